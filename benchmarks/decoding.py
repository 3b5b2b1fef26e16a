"""Evaluation decoding throughput: `lema predict` (greedy decoding + grading) on a tiny model.

Builds a tiny random-init LLaMA backbone (lema.models.tiny, tokenizer trained on GSM8K train text)
and
a LoRA adapter for it (peft, random non-zero weights, r=64 on all linear layers: the paper's
shape), then decodes the first P GSM8K test questions (the evaluation prompt,
lema.formats.cot_prompt) greedily through lema.evaluation.predict.predict with no response cache, at
several batch sizes, with the base model and with the adapter. Reports problems/s, completion
tokens/s and the grading time. Random-init models rarely emit EOS, so nearly every row decodes
max_tokens tokens: the figures are per generated token, as for a real model.

    python benchmarks/decoding.py [--problems 64] [--max-tokens 64] [--batch-sizes 1,8,32]
        [--hidden-size 64 --layers 2] [--device cpu|cuda] [--json runs/decoding.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--problems", type=int, default=64)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--batch-sizes", default="1,8,32")
    p.add_argument("--hidden-size", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--device", default=None, help="cpu / cuda (default: auto)")
    p.add_argument(
        "--data", default=str(SHARED / "gsm8k"), help="GSM8K folder (train.jsonl, test.jsonl)"
    )
    p.add_argument("--json", help="append results as JSON lines to this file")
    args = p.parse_args()

    import polars as pl
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from lema.data.build import build_table
    from lema.evaluation.predict import predict
    from lema.models.tiny import build_tiny_model

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    device_name = torch.cuda.get_device_name(0) if device == "cuda" else _cpu_name()
    threads = torch.get_num_threads()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        train = build_table("gsm8k", "train", source="local", local=args.data)
        test = build_table("gsm8k", "test", source="local", local=args.data).head(args.problems)
        test.write_parquet(d / "test.parquet")
        texts = train["question"].to_list() + train["solution"].to_list()
        model_dir = build_tiny_model(
            d / "model", texts, hidden_size=args.hidden_size, layers=args.layers, heads=args.heads
        )
        torch.manual_seed(0)
        base = AutoModelForCausalLM.from_pretrained(model_dir)
        lora = LoraConfig(r=64, lora_alpha=16, target_modules="all-linear", init_lora_weights=False)
        get_peft_model(base, lora).save_pretrained(d / "adapter")
        n_params = sum(p.numel() for p in base.parameters())

        for variant, adapter in (("base", None), ("adapter", str(d / "adapter"))):
            for bs in [int(b) for b in args.batch_sizes.split(",")]:
                spec = {
                    "backend": "hf",
                    "model": str(model_dir),
                    "chat": False,
                    "batch_size": bs,
                    "device": device,
                }
                if adapter:
                    spec["adapter"] = adapter
                # warm-up: load the model once (weights are cached in-process by the backend)
                predict(
                    d / "test.parquet",
                    "gsm8k",
                    spec,
                    d / "warm.parquet",
                    limit=2,
                    max_tokens=4,
                    cache=False,
                    workers=1,
                )
                started = time.perf_counter()
                predict(
                    d / "test.parquet",
                    "gsm8k",
                    spec,
                    d / "pred.parquet",
                    max_tokens=args.max_tokens,
                    cache=False,
                    workers=2,
                    stats=d / "stats.json",
                )
                wall = time.perf_counter() - started
                stats = json.loads((d / "stats.json").read_text())
                frame = pl.read_parquet(d / "pred.parquet")
                row = {
                    "device": device,
                    "device_name": device_name,
                    "torch_threads": threads,
                    "model": f"tiny llama {args.hidden_size}x{args.layers}",
                    "params_m": round(n_params / 1e6, 2),
                    "variant": variant,
                    "batch_size": bs,
                    "problems": frame.height,
                    "max_tokens": args.max_tokens,
                    "completion_tokens": stats["tokens"]["completion"],
                    "decode_s": stats["decode_seconds"],
                    "grade_s": stats["grade_seconds"],
                    "wall_s": round(wall, 2),
                    "problems_per_s": round(frame.height / stats["decode_seconds"], 2),
                    "completion_tok_per_s": stats["completion_tokens_per_s"],
                }
                rows.append(row)
                print(
                    f"{variant:8s} bs={bs:3d}  {row['problems_per_s']:7.2f} problems/s  "
                    f"{row['completion_tok_per_s']:8.1f} tok/s  decode {row['decode_s']:6.2f}s  "
                    f"grade {row['grade_s']:5.2f}s",
                    flush=True,
                )
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a") as fh:
            for row in rows:
                fh.write(json.dumps({**row, "host_cpus": os.cpu_count()}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
