"""The response cache: many writer processes at once, and lookups over many entries.

1. Writers: W processes (default 8) start together and each stores C completions (default
   5,000) of ~1.5 KB, one committed ``put`` per completion as a backend stores them when they
   arrive; 10% of each writer's keys are shared with the others. Reports the wall time, the
   entries/s of all writers together, and checks that every entry is readable afterwards and
   that each shard holds only its owner's rows. ``--legacy`` runs the same load against one
   WAL file written by every process (the cache before shards) for comparison.
2. Lookups over N entries (default 300,000) spread over S shards (default 64), then over
   the one base file ``lema cache merge`` makes of them (the merge is timed too): one
   lookup of every key (a job's rerun: all hits), N keys that are all misses (a new job),
   and single-key lookups (each reopens nothing but re-lists the shard folder).

    python benchmarks/cache.py                       # the figures in benchmarks/README.md
    python benchmarks/cache.py --entries 30000 --legacy --json out.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lema.models.cache import ResponseCache, cache_key  # noqa: E402
from lema.models.cache_admin import cache_stats, merge_cache  # noqa: E402
from lema.models.cache_files import list_shards  # noqa: E402

TEXT = ("Step 1: 12 * 7 = 84 apples in the crates. " * 40)[:1500]


def key(i: int) -> str:
    return cache_key({"backend": "openai", "model": "bench"}, {"prompt": f"q{i}"}, {}, 0)


def writer_keys(worker: int, count: int) -> list[str]:
    shared = count // 10
    return [key(i) for i in range(shared)] + [
        key(1_000_000 * (worker + 1) + i) for i in range(count - shared)
    ]


def write_sharded(path: str, worker: int, count: int, go: mp.Event, out: mp.Queue) -> None:
    keys = writer_keys(worker, count)
    cache = ResponseCache(path)
    go.wait()
    t0 = time.monotonic()
    for k in keys:
        cache.put(k, TEXT, {"worker": worker})
    cache.close()
    out.put(time.monotonic() - t0)


def write_legacy(path: str, worker: int, count: int, go: mp.Event, out: mp.Queue) -> None:
    """The cache before shards: one WAL file, every process writing it, autocommit inserts."""
    keys = writer_keys(worker, count)
    conn = sqlite3.connect(path, timeout=120, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 120000")
    for _ in range(50):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError:
            time.sleep(0.05)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, completion TEXT NOT NULL, "
        "meta TEXT NOT NULL, created REAL NOT NULL) WITHOUT ROWID"
    )
    go.wait()
    t0 = time.monotonic()
    for k in keys:
        conn.execute(
            "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?)",
            (k, TEXT, json.dumps({"worker": worker}), time.time()),
        )
    conn.close()
    out.put(time.monotonic() - t0)


def bench_writers(folder: Path, writers: int, count: int, legacy: bool) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    path = str(folder / ("legacy.sqlite" if legacy else "responses.sqlite"))
    ctx = mp.get_context("fork")
    go, out = ctx.Event(), ctx.Queue()
    target = write_legacy if legacy else write_sharded
    procs = [ctx.Process(target=target, args=(path, w, count, go, out)) for w in range(writers)]
    for p in procs:
        p.start()
    time.sleep(1.0)  # every writer has opened the cache
    t0 = time.monotonic()
    go.set()
    for p in procs:
        p.join()
        assert p.exitcode == 0, p.exitcode
    wall = time.monotonic() - t0
    each = sorted(out.get() for _ in procs)
    distinct = count // 10 + writers * (count - count // 10)
    t1 = time.monotonic()
    if legacy:
        conn = sqlite3.connect(path)
        stored = conn.execute("SELECT count(*) FROM responses").fetchone()[0]
        conn.close()
    else:
        with ResponseCache(path) as c:
            keys = {k for w in range(writers) for k in writer_keys(w, count)}
            stored = len(c.get_many(keys))
        for shard in list_shards(Path(path)):
            conn = sqlite3.connect(f"{shard.as_uri()}?mode=ro", uri=True)
            owners = conn.execute("SELECT DISTINCT meta FROM responses").fetchall()
            conn.close()
            assert len(owners) == 1, shard  # one writer per file
    assert stored == distinct, (stored, distinct)
    return {
        "layout": "one WAL file, every process writes it" if legacy else "one shard per process",
        "writers": writers,
        "completions_each": count,
        "wall_s": round(wall, 2),
        "entries_per_s": round(writers * count / wall),
        "slowest_writer_s": round(each[-1], 2),
        "fastest_writer_s": round(each[0], 2),
        "distinct_stored": stored,
        "verify_lookup_s": round(time.monotonic() - t1, 2),
    }


def build_shards(path: Path, entries: int, shards: int) -> None:
    per = -(-entries // shards)
    ctx = mp.get_context("fork")
    for s in range(shards):
        p = ctx.Process(target=_fill, args=(str(path), s * per, min(entries, (s + 1) * per)))
        p.start()
        p.join()
        assert p.exitcode == 0


def _fill(path: str, lo: int, hi: int) -> None:
    with ResponseCache(path) as c:
        for start in range(lo, hi, 1000):
            c.put_many((key(i), TEXT, {"i": i}) for i in range(start, min(hi, start + 1000)))


def bench_lookups(path: Path, entries: int, label: str) -> dict:
    hits = [key(i) for i in range(entries)]
    misses = [key(10**9 + i) for i in range(entries)]
    singles = [hits[(i * 7919) % entries] for i in range(2000)]
    out: dict = {"layout": label, "entries": entries, "files": len(cache_stats_files(path))}
    t0 = time.monotonic()
    cache = ResponseCache(path)
    out["open_s"] = round(time.monotonic() - t0, 3)
    for name, keys in (("all_hits", hits), ("all_misses", misses)):
        t0 = time.monotonic()
        got = cache.get_many(keys)
        dt = time.monotonic() - t0
        assert len(got) == (entries if name == "all_hits" else 0)
        out[f"{name}_s"] = round(dt, 2)
        out[f"{name}_keys_per_s"] = round(len(keys) / dt)
    t0 = time.monotonic()
    for k in singles:
        assert cache.get(k) is not None
    dt = time.monotonic() - t0
    out["single_key_ms"] = round(1000 * dt / len(singles), 3)
    cache.close()
    return out


def cache_stats_files(path: Path) -> list[Path]:
    return ([path] if path.exists() else []) + list_shards(path)


def machine() -> dict:
    return {
        "nproc": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default=None, help="where to write (default: a temporary folder)")
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--completions", type=int, default=5000, help="per writer")
    ap.add_argument("--entries", type=int, default=300_000)
    ap.add_argument("--shards", type=int, default=64)
    ap.add_argument(
        "--legacy", action="store_true", help="also one WAL file for all, for comparison"
    )
    ap.add_argument("--json", default=None, help="write the figures here too")
    args = ap.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="lema-cache-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    work = root / f"run-{secrets.token_hex(4)}"
    work.mkdir()
    report: dict = {"machine_start": machine(), "folder": str(work)}
    try:
        report["writers"] = [bench_writers(work / "w", args.writers, args.completions, False)]
        if args.legacy:
            report["writers"].append(
                bench_writers(work / "legacy", args.writers, args.completions, True)
            )
        print(json.dumps(report["writers"], indent=1), flush=True)
        lookups = work / "l" / "responses.sqlite"
        t0 = time.monotonic()
        build_shards(lookups, args.entries, args.shards)
        report["build_s"] = round(time.monotonic() - t0, 1)
        report["lookups"] = [bench_lookups(lookups, args.entries, f"{args.shards} shards")]
        print(json.dumps(report["lookups"][-1], indent=1), flush=True)
        t0 = time.monotonic()
        merged = merge_cache(lookups)
        report["merge"] = {
            "shards": len(merged.merged),
            "entries": merged.entries,
            "seconds": round(time.monotonic() - t0, 2),
            "bytes": cache_stats(lookups).bytes,
        }
        report["lookups"].append(bench_lookups(lookups, args.entries, "1 base file (merged)"))
        report["machine_end"] = machine()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
