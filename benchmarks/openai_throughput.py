"""Throughput of `lema generate --backend openai` against a local OpenAI-compatible server.

Starts tests/openai_server.py in its own process (fixed latency per request, optional injected
faults), runs `lema generate` on N requests at concurrency C, and reports the wall time as a
ratio to the concurrency-bound ideal ceil(N / C) x latency. Then reruns on the same cache and
checks that it sends zero requests and writes identical completions. The server's own counts
check that every id was answered exactly once.

    python benchmarks/openai_throughput.py                       # 1000 req, 100 ms, C=64
    python benchmarks/openai_throughput.py --fault-rate 0.14 --timeout 1
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args: argparse.Namespace, port: int) -> subprocess.Popen:
    cmd = [
        sys.executable,
        str(ROOT / "tests" / "openai_server.py"),
        "--port",
        str(port),
        "--latency",
        str(args.latency),
        "--fault-rate",
        str(args.fault_rate),
        "--retry-after",
        str(args.retry_after),
        "--slow",
        str(args.slow),
    ]
    if args.faults:
        cmd += ["--faults", args.faults]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("server did not start")


def stop_server(proc: subprocess.Popen) -> dict:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    lines = [line for line in err.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def run_generate(
    args: argparse.Namespace, url: str, inp: Path, out: Path, cache: Path
) -> tuple[float, str]:
    cmd = [
        sys.executable,
        "-m",
        "lema.cli",
        "generate",
        "--backend",
        "openai",
        "--model",
        "bench",
        "--base-url",
        url,
        "--input",
        str(inp),
        "--output",
        str(out),
        "--cache",
        str(cache),
        "--concurrency",
        str(args.concurrency),
        "--timeout",
        str(args.timeout),
        "--max-retries",
        str(args.max_retries),
        "--no-progress",
    ]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"lema generate failed:\n{proc.stderr}")
    return wall, proc.stderr.strip().splitlines()[-1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--latency", type=float, default=0.1)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--fault-rate", type=float, default=0.0)
    p.add_argument("--faults", default="", help="fault kinds (default: all)")
    p.add_argument("--retry-after", type=float, default=0.1)
    p.add_argument("--slow", type=float, default=3.0, help="duration of a 'slow' reply")
    p.add_argument("--timeout", type=float, default=1.0, help="client timeout per request")
    p.add_argument("--max-retries", type=int, default=8)
    p.add_argument("--json", help="append the result as a JSON line to this file")
    args = p.parse_args()

    ideal = math.ceil(args.requests / args.concurrency) * args.latency
    port = free_port()
    server = start_server(args, port)
    url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        inp = d / "in.jsonl"
        inp.write_text(
            "".join(
                json.dumps(
                    {"id": f"q{i}", "messages": [{"role": "user", "content": f"question {i}"}]}
                )
                + "\n"
                for i in range(args.requests)
            )
        )
        try:
            wall, summary = run_generate(args, url, inp, d / "a.jsonl", d / "cache.sqlite")
        finally:
            first = stop_server(server)
        server = start_server(args, port)
        try:
            wall2, summary2 = run_generate(args, url, inp, d / "b.jsonl", d / "cache.sqlite")
        finally:
            second = stop_server(server)
        identical = (d / "a.jsonl").read_text() == (d / "b.jsonl").read_text()
    inner = float(re.search(r"wall ([\d.]+) s", summary).group(1))
    result = {
        "requests": args.requests,
        "latency_s": args.latency,
        "concurrency": args.concurrency,
        "fault_rate": args.fault_rate,
        "faults": args.faults or "all",
        "timeout_s": args.timeout,
        "ideal_s": round(ideal, 3),
        "wall_s": round(wall, 3),
        "ratio": round(wall / ideal, 2),
        "generate_wall_s": inner,
        "generate_ratio": round(inner / ideal, 2),
        "server": first,
        "every_id_answered_once": first.get("keys_answered") == args.requests
        and first.get("max_answers_per_key") == 1,
        "rerun_requests": second.get("requests"),
        "rerun_wall_s": round(wall2, 3),
        "rerun_identical": identical,
    }
    print(f"first run : {summary}")
    print(f"rerun     : {summary2}")
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "a") as fh:
            fh.write(json.dumps(result) + "\n")
    ok = result["every_id_answered_once"] and result["rerun_requests"] == 0 and identical
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    sys.exit(main())
