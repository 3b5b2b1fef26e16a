"""Tokens/s of the `hf` backend on tiny random-init models (CPU; and CUDA when present).

Builds tiny LLaMA models (lema.models.tiny) from synthetic text, then samples P prompts x n samples
x
T new tokens through lema.models.generate (no cache) at several batch sizes. Random-init
models rarely emit EOS, so nearly every row runs to max_tokens.

    python benchmarks/hf_throughput.py [--prompts 64] [--max-tokens 64] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prompts", type=int, default=64)
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--batch-sizes", default="1,8,32")
    p.add_argument("--device", default=None, help="cpu / cuda (default: auto)")
    p.add_argument("--json", help="append results as JSON lines to this file")
    args = p.parse_args()

    import torch

    from lema.models import GenerationStats, Request, Sampling, generate
    from lema.models.tiny import build_tiny_model

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    text = [
        f"Question: Tom has {i} apples and buys {i + 2} more. How many? Answer: {2 * i + 2}"
        for i in range(2000)
    ]
    shapes = {
        "tiny-64x2": dict(hidden_size=64, layers=2, heads=4),
        "small-256x4": dict(hidden_size=256, layers=4, heads=8),
    }
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name, shape in shapes.items():
            folder = build_tiny_model(Path(d) / name, text, vocab_size=2000, **shape)
            reqs = [
                Request(
                    f"q{i}",
                    prompt=f"Question: Tom has {i} apples",
                    sampling=Sampling(
                        n=args.n, temperature=0.8, max_tokens=args.max_tokens, seed=i
                    ),
                )
                for i in range(args.prompts)
            ]
            spec = {"backend": "hf", "model": str(folder), "device": device}
            generate({**spec, "batch_size": 8}, reqs[:2], cache=False)  # load + warm up
            for bs in [int(b) for b in args.batch_sizes.split(",")]:
                stats = GenerationStats()
                t0 = time.perf_counter()
                generate({**spec, "batch_size": bs}, reqs, cache=False, stats=stats)
                wall = time.perf_counter() - t0
                row = {
                    "model": name,
                    "device": device,
                    "threads": torch.get_num_threads(),
                    "batch_size": bs,
                    "sequences": args.prompts * args.n,
                    "new_tokens": stats.completion_tokens,
                    "wall_s": round(wall, 3),
                    "tokens_per_s": round(stats.completion_tokens / wall, 1),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "a") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
