"""rules/train.smk through Snakemake on CPU: adapters for two tiny backbones x two mixes from
pre-made mixes and models; a rerun is a no-op; a per-backbone training setting retrains only
that backbone's adapters; gpu > 1 launches through `accelerate launch`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from train_fixtures import build_tiny, write_mix

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
TARGETS = [f"results/gsm8k/adapters/{b}/{m}" for b in ("tiny-a", "tiny-b") for m in ("cot", "lema")]

CONFIG = """
tasks: [gsm8k]
models:
  gen: {{backend: hf, tiny: true}}
generators: [gen]
corrector: gold
mixes: [cot, lema]
backbones:
  tiny-a: {{tiny: true}}
  tiny-b: {{tiny: {{hidden_size: 32}}, training: {{learning_rate: {lr_b}, lora: {{r: 4}}}}}}
training:
  max_steps: 2
  batch_size: 4
  per_device_batch_size: 2
  save_steps: 1
  logging_steps: 1
  gradient_checkpointing: false
  lora: {{r: 8, alpha: 16, dropout: 0.0, target_modules: all-linear}}
  max_prompt_tokens: {{gsm8k: 256, math: 256}}
  max_completion_tokens: 256
"""


def snakemake(
    workdir: Path, *args: str, targets=TARGETS, rules=("train",)
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    # targets first: --configfile and --allowed-rules take several values
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        *targets,
        "-s",
        str(ROOT / "Snakefile"),
        "-d",
        str(workdir),
        "--cores",
        "2",
        "--configfile",
        str(workdir / "config.yaml"),
        "--allowed-rules",
        *rules,
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    wd = tmp_path_factory.mktemp("wf")
    (wd / "config.yaml").write_text(CONFIG.format(lr_b=1e-3))
    # inputs made by other stages in the full graph: tiny models and two small mixes
    build_tiny(wd / "results/models/tiny-a", vocab=500)
    build_tiny(wd / "results/models/tiny-b", hidden=32, vocab=500)
    write_mix(wd / "results/gsm8k/train/cot.jsonl", 8)
    write_mix(wd / "results/gsm8k/train/lema.jsonl", 8, offset=100)
    return wd


def test_snakemake_builds_adapters_for_two_backbones_and_two_mixes(workdir):
    run = snakemake(workdir)
    assert run.returncode == 0, run.stderr[-4000:]
    for target in TARGETS:
        folder = workdir / target
        assert (folder / "adapter_model.safetensors").exists()
        settings = json.loads((folder / "settings.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["global_step"] == 2
        backbone = target.split("/")[3]
        assert settings["settings"]["lora"]["r"] == (4 if backbone == "tiny-b" else 8)
        assert settings["settings"]["learning_rate"] == (1e-3 if backbone == "tiny-b" else 2e-4)
        assert settings["model"] == f"results/models/{backbone}"
        assert (workdir / "logs/train/gsm8k" / backbone / f"{target.split('/')[-1]}.log").exists()
    # intermediate checkpoints are gone after success (the finished adapter stays beside
    # them, as hard links of the output's files); nothing left to do on a rerun
    assert not list((workdir / "results/gsm8k/checkpoints/tiny-a/cot").glob("checkpoint-*"))
    dry = snakemake(workdir, "-n")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr


def test_changed_backbone_setting_retrains_only_that_backbone(workdir):
    config = workdir / "config.yaml"
    original = config.read_text()
    try:
        config.write_text(CONFIG.format(lr_b=5e-4))
        dry = snakemake(workdir, "-n")
        out = dry.stdout + dry.stderr
        assert dry.returncode == 0, out[-3000:]
        assert (
            "results/gsm8k/adapters/tiny-b/cot" in out
            and "results/gsm8k/adapters/tiny-b/lema" in out
        )
        assert "output: results/gsm8k/adapters/tiny-a" not in out
    finally:
        config.write_text(original)


def test_multi_gpu_launches_through_accelerate(workdir):
    dry = snakemake(workdir, "-n", "-p", "--forcerun", "train", "--set-resources", "train:gpu=4")
    out = dry.stdout + dry.stderr
    assert dry.returncode == 0, out[-3000:]
    assert "accelerate launch --num_processes 4" in out and "-m lema.cli train" in out
    single = snakemake(workdir, "-n", "-p", "--forcerun", "train")
    assert "accelerate launch" not in single.stdout + single.stderr
    assert "gpu=0" in single.stdout + single.stderr  # tiny backbones default to no GPU


def test_merge_target(workdir):
    target = "results/gsm8k/merged/tiny-a/cot"
    run = snakemake(workdir, targets=[target], rules=("merge",))
    assert run.returncode == 0, run.stderr[-3000:]
    assert (workdir / target / "model.safetensors").exists()
    assert (workdir / target / "tokenizer.json").exists()
