"""`lema train` / `lema merge` on tiny local models: LoRA and QLoRA (NF4 on CPU) train with
falling loss, the adapter reloads with peft and changes the output, merge matches peft, a
SIGKILLed run resumes from its checkpoint, and bad settings fail with one clear line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from train_fixtures import build_tiny, write_mix

from lema.cli import main as lema_main
from lema.training.checkpoints import last_checkpoint, prepare_checkpoints

os.environ.setdefault("OMP_NUM_THREADS", "1")
LEMA = [sys.executable, "-m", "lema.cli"]


def settings(**over):
    s = {
        "quantization": "none",
        "epochs": 1,
        "max_steps": 16,
        "max_prompt_tokens": 256,
        "max_completion_tokens": 256,
        "learning_rate": 1e-2,
        "lr_scheduler": "constant",
        "warmup_ratio": 0.0,
        "weight_decay": 0.0,
        "adam_beta2": 0.999,
        "batch_size": 4,
        "per_device_batch_size": 4,
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"},
        "max_grad_norm": 0.3,
        "optimizer": "paged_adamw_32bit",
        "gradient_checkpointing": True,
        "group_by_length": True,
        "save_steps": 100,
        "logging_steps": 1,
        "seed": 42,
        "data_seed": 42,
    }
    s.update(over)
    return s


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    build_tiny(root / "model")
    write_mix(root / "mix.jsonl", 32)
    return root


def train_cli(work: Path, out: Path, s: dict, mix: Path | None = None, extra=()) -> int:
    return lema_main(
        [
            "train",
            "--task",
            "gsm8k",
            "--backbone",
            "tiny",
            "--model",
            str(work / "model"),
            "--mix",
            str(mix or work / "mix.jsonl"),
            "--out",
            str(out),
            "--checkpoints",
            str(out.parent / f"{out.name}.ckpt"),
            "--settings",
            json.dumps(s),
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def adapters(work):
    out = {}
    for quant in ("none", "nf4"):
        folder = work / "adapters" / quant
        assert train_cli(work, folder, settings(quantization=quant)) == 0
        out[quant] = folder
    return out


def _mean(xs):
    return sum(xs) / len(xs)


@pytest.mark.parametrize("quant", ["none", "nf4"])
def test_trains_with_falling_loss(adapters, quant):
    folder = adapters[quant]
    assert (folder / "adapter_config.json").exists()
    assert (folder / "adapter_model.safetensors").exists()
    resolved = json.loads((folder / "settings.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    assert resolved["runtime"]["quantization"] == quant
    assert resolved["runtime"]["compute_dtype"] == "float32"  # CPU: no bf16 mixed precision
    assert resolved["runtime"]["optimizer"] == "adamw_torch"  # paging exists only on CUDA
    assert resolved["settings"]["lora"]["r"] == 8
    assert resolved["completion_only_loss"] is True
    assert len(resolved["mix_sha256"]) == 64
    losses = [p["loss"] for p in metrics["loss_curve"]]
    assert [p["step"] for p in metrics["loss_curve"]] == list(range(1, 17))
    assert _mean(losses[-4:]) < _mean(losses[:4]) - 0.1, losses
    assert metrics["global_step"] == 16
    assert metrics["tokens_seen"] > 0 and metrics["peak_rss_mb"] > 0
    assert metrics["train_time_s"] > 0 and metrics["tokens_per_s"] > 0
    # the step checkpoints are removed once the adapter is written; the finished adapter
    # stays beside them as hard links of the output's files (no second copy on disk)
    ckpt = folder.parent / f"{folder.name}.ckpt"
    assert not list(ckpt.glob("checkpoint-*"))
    for name in ("adapter_model.safetensors", "metrics.json"):
        assert (ckpt / "final" / name).samefile(folder / name)


def test_row_counts_reach_metrics_json_and_the_log(work, tmp_path, capsys):
    """A mix with a long correction prompt and a completion over its limit: the prompt is
    trimmed, the row that would lose its final answer is dropped, and both are counted."""
    from train_fixtures import mix_rows

    from lema.formats import correction_completion, correction_prompt

    rows = mix_rows(6)
    wrong = "\n".join(f"Step {i}: {i} + {i} = {2 * i}." for i in range(1, 80))
    rows.append(
        {
            "prompt": correction_prompt("Tom has 3 apples and buys 5 more. How many?", wrong),
            "completion": correction_completion("Step 1", "3 + 5 is 8.", "The answer is 8."),
        }
    )
    rows.append({"prompt": rows[0]["prompt"], "completion": "Step 1: 1 + 1 = 2.\n" * 120})
    mix = tmp_path / "mix.jsonl"
    mix.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "adapter"
    s = settings(max_steps=2, max_prompt_tokens=200, max_completion_tokens=300)
    assert train_cli(work, out, s, mix=mix) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rows"]["in"] == 8 and metrics["rows"]["trained"] == 7
    assert metrics["rows"]["prompt_truncated"] == 1
    assert metrics["rows"]["dropped"] == {"completion_too_long": 1}
    assert metrics["rows"]["max_prompt_tokens"] == 200
    assert metrics["rows"]["longest_prompt_tokens"] > 200
    assert metrics["rows"]["longest_completion_tokens"] > 300
    assert metrics["train_rows"] == 7 and metrics["global_step"] == 2
    settings_json = json.loads((out / "settings.json").read_text())
    assert settings_json["mix_rows"] == 8
    assert settings_json["settings"]["max_completion_tokens"] == 300
    err = capsys.readouterr().err
    line = last_line_matching(err, "lema train: warning: gsm8k/tiny: ")
    assert line.endswith(
        "8 rows in, 7 trained; prompts trimmed from the left to 200 tokens: 1; "
        "dropped: 1 completion_too_long (completion limit 300 tokens)"
    )


def test_mix_with_no_row_within_the_limits_fails_in_one_line(work, tmp_path, capsys):
    s = settings(max_completion_tokens=2)
    err = _one_line_error(capsys, train_cli(work, tmp_path / "out", s))
    assert "no row fits the training limits" in err and "32 completion_too_long" in err
    assert not (tmp_path / "out").exists()


def test_nf4_model_is_really_4bit(work):
    import bitsandbytes as bnb

    from lema.training.model import load_model
    from lema.training.settings import resolve_runtime

    s = settings(quantization="nf4")
    runtime = resolve_runtime(s, 1, cuda=False)
    model = load_model(str(work / "model"), runtime, s, 0)
    linear4 = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(linear4) == 2 * 7  # q k v o gate up down per layer (lm_head stays unquantised)
    assert all(m.weight.quant_type == "nf4" for m in linear4)
    assert all(m.weight.quant_state.nested for m in linear4)  # double quantisation
    assert not any(m.support_avx512bf16_for_cpu for m in linear4)


def test_auto_quantization_is_none_on_cpu_and_nf4_on_cuda():
    from lema.training.settings import resolve_runtime

    assert resolve_runtime(settings(quantization="auto"), 1, cuda=False)["quantization"] == "none"
    r = resolve_runtime(
        settings(quantization="auto", batch_size=96, per_device_batch_size=4), 4, cuda=False
    )
    assert r["gradient_accumulation_steps"] == 6 and r["effective_batch_size"] == 96


@pytest.mark.parametrize("quant", ["none", "nf4"])
def test_adapter_reloads_changes_output_and_merges(work, adapters, quant, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(work / "model")
    ids = tok(
        "Question: Tom has 3 apples and buys 5 more. How many?\nAnswer:", return_tensors="pt"
    ).input_ids
    base = AutoModelForCausalLM.from_pretrained(work / "model")
    with torch.no_grad():
        before = base(ids).logits
    tuned = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(work / "model"), adapters[quant]
    )
    with torch.no_grad():
        after = tuned(ids).logits
    assert (after - before).abs().max() > 1e-2
    merged_dir = tmp_path / "merged"
    assert lema_main(["merge", "--adapter", str(adapters[quant]), "--out", str(merged_dir)]) == 0
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    with torch.no_grad():
        m = merged(ids).logits
    assert torch.allclose(m, after, atol=1e-4)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_resume_after_sigkill(work, tmp_path):
    out = tmp_path / "adapter"
    ckpt = tmp_path / "ckpt"
    s = settings(max_steps=40, save_steps=3, learning_rate=2e-3)
    cmd = [
        *LEMA,
        "train",
        "--task",
        "gsm8k",
        "--backbone",
        "tiny",
        "--model",
        str(work / "model"),
        "--mix",
        str(work / "mix.jsonl"),
        "--out",
        str(out),
        "--checkpoints",
        str(ckpt),
        "--settings",
        json.dumps(s),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    try:
        while last_checkpoint(ckpt) is None:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    killed_at = int(last_checkpoint(ckpt).name.split("-")[1])
    assert 3 <= killed_at < 40

    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    resumed = int(last_line_matching(rerun.stderr, "resuming from").split("(step ")[1].rstrip(")"))
    assert resumed >= killed_at
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_from_step"] == resumed
    assert metrics["global_step"] == 40 and metrics["max_steps"] == 40
    # one loss entry per step: the restored history up to the checkpoint, then the rest
    assert [p["step"] for p in metrics["loss_curve"]] == list(range(1, 41))
    assert metrics["tokens_seen"] > metrics["tokens_seen_this_run"] > 0
    assert metrics["total_train_time_s"] > metrics["train_time_s"]  # time before the kill counts
    assert not list(ckpt.glob("checkpoint-*"))  # the finished adapter alone stays
    weights = "adapter_model.safetensors"
    assert (ckpt / "final" / weights).samefile(out / weights)

    # killed once the adapter was finished (a SLURM time limit while the job was ending:
    # Snakemake deletes the output of a failed job): the rerun links it back, no training
    shutil.rmtree(out)
    again = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "linked into place, not trained again" in again.stderr
    assert "resuming from" not in again.stderr
    assert json.loads((out / "metrics.json").read_text()) == metrics
    # other settings discard it and train
    other = [*cmd[:-1], json.dumps({**s, "max_steps": 4})]
    third = subprocess.run(other, capture_output=True, text=True, env=env)
    assert third.returncode == 0, third.stderr[-3000:]
    assert "not trained again" not in third.stderr
    assert json.loads((out / "metrics.json").read_text())["global_step"] == 4


def test_sigterm_saves_a_checkpoint_at_the_current_step(work, tmp_path):
    """SLURM sends SIGTERM before a time limit: the run checkpoints the step it is on and
    exits with one line saying where to resume from."""
    out, ckpt = tmp_path / "adapter", tmp_path / "ckpt"
    s = settings(max_steps=400, save_steps=2, learning_rate=2e-3)
    cmd = [
        *LEMA, "train", "--task", "gsm8k", "--backbone", "tiny", "--model", str(work / "model"),
        "--mix", str(work / "mix.jsonl"), "--out", str(out), "--checkpoints", str(ckpt),
        "--settings", json.dumps(s),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    try:
        while last_checkpoint(ckpt) is None:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1
    line = last_line_matching(err.decode(), "lema train: error: stopped by SIGTERM")
    step = int(line.split(" at step ")[1].split("/")[0])
    assert 2 <= step < 400
    assert last_checkpoint(ckpt) == ckpt / f"checkpoint-{step}"
    assert (ckpt / f"checkpoint-{step}" / "lema-time.json").exists()
    assert not out.exists()


def last_line_matching(text: str, needle: str) -> str:
    lines = [line for line in text.splitlines() if needle in line]
    assert lines, text[-3000:]
    return lines[-1]


def test_checkpoints_of_other_settings_are_discarded(tmp_path):
    ckpt = tmp_path / "ckpt"
    fp = {"settings": settings(), "mix_sha256": "a"}
    assert prepare_checkpoints(ckpt, fp, main=True) is None
    (ckpt / "checkpoint-3").mkdir()
    (ckpt / "checkpoint-3" / "trainer_state.json").write_text("{}")
    (ckpt / "checkpoint-6").mkdir()  # cut off mid-save: no trainer_state.json
    assert prepare_checkpoints(ckpt, fp, main=True) == ckpt / "checkpoint-3"
    assert prepare_checkpoints(ckpt, {**fp, "mix_sha256": "b"}, main=True) is None
    assert not (ckpt / "checkpoint-3").exists()


# --- bad settings fail with one clear line ---------------------------------------------------


def _one_line_error(capsys, code: int) -> str:
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("lema train: error: ")
    return err


def test_empty_mix(work, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    err = _one_line_error(capsys, train_cli(work, tmp_path / "out", settings(), mix=empty))
    assert "empty" in err and str(empty) in err


def test_missing_mix(work, tmp_path, capsys):
    err = _one_line_error(
        capsys, train_cli(work, tmp_path / "out", settings(), mix=tmp_path / "nope.jsonl")
    )
    assert "nope.jsonl" in err and "not found" in err


def test_bad_row_names_file_and_line(work, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "Q", "completion": "A"}\n{"prompt": "Q2"}\n')
    err = _one_line_error(capsys, train_cli(work, tmp_path / "out", settings(), mix=bad))
    assert f"{bad}:2" in err and "completion" in err
    bad.write_text('{"prompt": "Q", "completion": "A"}\nnot json\n')
    err = _one_line_error(capsys, train_cli(work, tmp_path / "out", settings(), mix=bad))
    assert f"{bad}:2" in err


def test_bad_setting_value(work, tmp_path, capsys):
    err = _one_line_error(capsys, train_cli(work, tmp_path / "out", settings(quantization="int3")))
    assert "quantization" in err


def test_unknown_backbone(work, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(
        "generators: [g]\ncorrector: gold\nmodels: {g: {backend: hf, tiny: true}}\n"
        "backbones: {tiny-a: {tiny: true}}\n"
    )
    code = lema_main(
        [
            "train",
            "--config",
            str(config),
            "--task",
            "gsm8k",
            "--backbone",
            "llama9-1t",
            "--mix",
            str(work / "mix.jsonl"),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = _one_line_error(capsys, code)
    assert "llama9-1t" in err and "tiny-a" in err


def test_unknown_base_model(work, tmp_path, capsys):
    code = lema_main(
        [
            "train",
            "--task",
            "gsm8k",
            "--backbone",
            "x",
            "--model",
            str(tmp_path / "no-model"),
            "--mix",
            str(work / "mix.jsonl"),
            "--out",
            str(tmp_path / "out"),
            "--checkpoints",
            str(tmp_path / "ck"),
            "--settings",
            json.dumps(settings()),
        ]
    )
    err = _one_line_error(capsys, code)
    assert "no-model" in err


def test_backbone_settings_paper_lr_and_overrides():
    from lema.config import backbone_training, validate_config
    from lema.errors import ConfigError

    config = validate_config(
        {
            "generators": ["g"],
            "corrector": "gold",
            "models": {"g": {"backend": "hf", "tiny": True}},
            "backbones": {
                "b7": {"model": "x/7b", "size_b": 7},
                "b70": {"model": "x/70b", "size_b": 70, "training": {"lora": {"r": 16}}},
                "short": {"model": "x/s", "training": {"max_prompt_tokens": {"gsm8k": 128}}},
            },
        }
    )
    s7 = backbone_training(config, "b7", "gsm8k")
    s70 = backbone_training(config, "b70", "math")
    assert s7["learning_rate"] == 2e-4 and s70["learning_rate"] == 1e-4
    assert s7["max_prompt_tokens"] == 512 and s70["max_prompt_tokens"] == 768
    assert s7["max_completion_tokens"] == 512 and s70["max_completion_tokens"] == 768
    assert s70["lora"] == {"r": 16, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"}
    assert (s7["quantization"], s7["lr_scheduler"], s7["max_grad_norm"]) == (
        "auto",
        "constant",
        0.3,
    )
    assert s7["optimizer"] == "paged_adamw_32bit" and s7["batch_size"] == 96
    assert backbone_training(config, "short", "gsm8k")["max_prompt_tokens"] == 128
    assert backbone_training(config, "short", "math")["max_prompt_tokens"] == 768  # deep merge
    config["training"]["max_prompt_tokens"] = {"gsm8k": 512}
    with pytest.raises(ConfigError, match="max_prompt_tokens.math"):
        backbone_training(config, "b7", "math")
    with pytest.raises(ConfigError, match="not defined under 'backbones'"):
        backbone_training(config, "b13", "gsm8k")
    config["backbones"]["b7"]["training"] = {"quantization": "int3"}
    with pytest.raises(ConfigError, match="backbones.b7.training.quantization"):
        backbone_training(config, "b7", "gsm8k")
