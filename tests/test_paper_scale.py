"""benchmarks/paper_scale.py: the paper-scale figures re-derive from config.yaml (no dry run
here: tests/test_lint.py already dry-runs the full study)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_paper_scale_figures_from_config(tmp_path):
    out = tmp_path / "scale.json"
    script = ROOT / "benchmarks" / "paper_scale.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--no-dry-run", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    study = yaml.safe_load((ROOT / "config.yaml").read_text())
    k = study["sampling"]["k"]
    for task, questions in (("gsm8k", 7473), ("math", 7500)):
        d = result["data"][task]
        assert d["sampled_paths"] == questions * k * len(study["generators"])
        assert 0 < d["mistakes"] < d["sampled_paths"]
        sizes = [f"{m}_n{n}" for m in ("cot", "lema") for n in study["mix"]["sizes"]]
        assert set(d["mix_tokens"]) == set(study["mixes"]) | set(sizes)
        assert d["cot_augment_paths_per_question"] > 0  # cot_matched from distinct CoT rows
        # the correction prompt really is the longest request (4 worked examples + a wrong path)
        assert d["prompt_tokens"]["correct"] > d["prompt_tokens"]["sample"]
    corrector = f"{study['corrector']} (corrector)"
    assert result["api_cost_usd"][corrector] > 1000  # GPT-4 at paper scale: thousands of dollars
    assert set(result["gpu_hours"]["training"]) == set(study["backbones"])
    assert result["gpu_hours"]["total"] > 0
    assert "API cost total" in proc.stdout and "GPU hours" in proc.stdout
