"""The response cache across processes and hosts: one shard per writer, a read-only base,
a legacy single-file cache, stats and merge, a writer killed mid-write."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lema.errors import LemaError
from lema.models import Request, ResponseCache, generate
from lema.models.cache_admin import cache_stats, merge_cache
from lema.models.cache_files import connect_writer, is_wal, list_shards, shard_dir

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

# the schema and journal mode of the cache before shards: one WAL file, WITHOUT ROWID
LEGACY_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, completion TEXT NOT NULL, "
    "meta TEXT NOT NULL, created REAL NOT NULL) WITHOUT ROWID"
)

WRITER = """
import json, os, sys
from lema.models import ResponseCache
path, worker, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cache = ResponseCache(path)
for i in range(count):
    for key in (f"w{worker}-{i}", f"shared-{i}"):
        cache.put(key, f"{key} by {worker}", {"worker": worker, "pid": os.getpid()})
shard = str(cache.shard)
cache.close()
print(json.dumps({"pid": os.getpid(), "open": shard, "sealed": str(cache.shard)}))
"""


def _rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT key, completion, meta FROM responses").fetchall()
    finally:
        conn.close()


def _owner(path: Path) -> tuple[str, int]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT host, pid FROM owner").fetchone()
    finally:
        conn.close()


def _sidecars(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(("-wal", "-shm", "-journal"))]


def test_eight_writer_processes_each_write_only_their_own_shard(tmp_path):
    cache = tmp_path / "cache" / "responses.sqlite"
    count = 150
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(cache), str(w), str(count)],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(8)
    ]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        reports.append(json.loads(out))
    shards = list_shards(cache)
    assert sorted(map(str, shards)) == sorted(r["sealed"] for r in reports)
    for worker, rep in enumerate(reports):
        shard = Path(rep["sealed"])
        assert f"-{rep['pid']}-" in shard.name and rep["open"].endswith(".open.sqlite")
        assert _owner(shard)[1] == rep["pid"]
        rows = _rows(shard)
        assert len(rows) == 2 * count
        # every row of a shard was written by its one owner process
        assert {json.loads(meta)["pid"] for _, _, meta in rows} == {rep["pid"]}
        assert {json.loads(meta)["worker"] for _, _, meta in rows} == {worker}
    assert _sidecars(tmp_path) == []  # no WAL, no shared memory, no journal left
    assert not cache.exists()  # nobody writes the base
    with ResponseCache(cache) as store:
        keys = [f"w{w}-{i}" for w in range(8) for i in range(count)]
        keys += [f"shared-{i}" for i in range(count)]
        got = store.get_many(keys)
        assert set(got) == set(keys) and len(store) == 9 * count
        assert all(got[f"w{w}-{i}"][0] == f"w{w}-{i} by {w}" for w in range(8) for i in (0, 99))
        # a key several processes wrote: the first shard in name order answers
        first = json.loads(_rows(shards[0])[0][2])["worker"]
        assert got["shared-0"][0] == f"shared-0 by {first}"
    stats = cache_stats(cache)
    assert [f.kind for f in stats.files] == ["sealed"] * 8
    assert stats.entries == 16 * count and stats.distinct == 9 * count
    assert stats.duplicates == 7 * count and stats.conflicts == count


def test_lookups_see_shards_created_after_the_cache_was_opened(tmp_path):
    path = tmp_path / "responses.sqlite"
    reader = ResponseCache(path)
    assert reader.get("a") is None
    writer = ResponseCache(path)
    writer.put("a", "A")  # an open shard, still being written
    assert reader.get("a") == ("A", {})
    writer.put("b", "B")
    assert reader.get("b") == ("B", {})
    writer.close()  # sealed: renamed, same content
    assert reader.get_many(["a", "b"]) == {"a": ("A", {}), "b": ("B", {})}
    reader.put("c", "C")
    assert reader.shard != writer.shard and {p.name for p in list_shards(path)} == {
        writer.shard.name,
        reader.shard.name,
    }
    reader.close()
    assert _sidecars(tmp_path) == []


def test_many_shards_keep_few_files_open(tmp_path):
    path = tmp_path / "responses.sqlite"
    for i in range(6):
        with ResponseCache(path) as c:
            c.put(f"k{i}", f"v{i}")
    reader = ResponseCache(path)
    reader.keep_open = 2
    for _ in range(2):  # the other 4 are opened for each lookup and closed after it
        got = reader.get_many([f"k{i}" for i in range(6)])
        assert got == {f"k{i}": (f"v{i}", {}) for i in range(6)}
        assert len(reader._shards) == 2
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    reader.keep_open = 64
    assert reader.get("absent") is None  # visits every shard: now all are kept open
    if fds is not None:
        assert len(os.listdir("/proc/self/fd")) == fds + 4
    reader.close()


def _legacy_copy(cache: Path, legacy: Path, *, crash: bool) -> int:
    """Write every entry of ``cache`` into a single WAL file as the cache before shards
    did; with ``crash``, the writer is killed before any checkpoint (the rows live only in
    its -wal file)."""
    rows = []
    with ResponseCache(cache) as store:
        rows = [(k, *store.get(k)) for k in sorted(store.keys())]
    code = f"""
import json, os, sqlite3, signal, sys
rows = json.loads(sys.stdin.read())
conn = sqlite3.connect({str(legacy)!r}, isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("PRAGMA wal_autocheckpoint = 0")
conn.execute({LEGACY_SCHEMA!r})
for key, completion, meta in rows:
    conn.execute("INSERT OR IGNORE INTO responses VALUES (?, ?, ?, 0)",
                 (key, completion, json.dumps(meta)))
if {crash!r}:
    os.kill(os.getpid(), signal.SIGKILL)
conn.close()
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(rows), text=True, capture_output=True
    )
    assert proc.returncode == (-signal.SIGKILL if crash else 0), proc.stderr
    return len(rows)


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()
    }


@pytest.mark.parametrize("crash", [False, True], ids=["closed", "crashed-with-wal"])
def test_a_legacy_single_file_cache_still_serves_every_hit(openai_server, tmp_path, crash):
    server = openai_server()
    spec = {"backend": "openai", "model": "m", "base_url": server.url}
    reqs = [Request(f"r{i}", prompt=f"q {i}") for i in range(30)]
    first = generate(spec, reqs, cache=tmp_path / "fresh" / "responses.sqlite")
    legacy_dir = tmp_path / "old"
    legacy_dir.mkdir()
    legacy = legacy_dir / "responses.sqlite"
    assert _legacy_copy(tmp_path / "fresh" / "responses.sqlite", legacy, crash=crash) == 30
    assert is_wal(legacy) and (legacy_dir / "responses.sqlite-wal").exists() == crash
    before = _digest(legacy_dir)
    server.reset()
    again = generate(spec, reqs, cache=legacy)
    assert server.stats()["requests"] == 0
    assert [r.completions for r in again] == [r.completions for r in first]
    assert _digest(legacy_dir) == before  # read, never written (no -shm made, no checkpoint)
    assert not shard_dir(legacy).exists() or list_shards(legacy) == []
    # a merge rewrites it once as a rollback-journal base with every entry
    report = merge_cache(legacy)
    assert report.entries == 30 and not is_wal(legacy) and _sidecars(legacy_dir) == []
    server.reset()
    generate(spec, reqs, cache=legacy)
    assert server.stats()["requests"] == 0


def _generate_proc(server_url: str, inp: Path, out: Path, cache: Path) -> subprocess.Popen:
    args = ["generate", "--backend", "openai", "--model", "m", "--base-url", server_url]
    args += ["--input", str(inp), "--output", str(out), "--cache", str(cache)]
    return subprocess.Popen(
        [sys.executable, "-m", "lema.cli", *args, "--concurrency", "8", "--no-progress"],
        cwd=ROOT,
        env=ENV,
        stderr=subprocess.PIPE,
        text=True,
    )


def _lema(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "lema.cli", *args], cwd=ROOT, env=ENV, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_stats_and_merge_keep_every_entry_and_a_rerun_sends_nothing(openai_server, tmp_path):
    server = openai_server(latency=0.01)
    cache = tmp_path / "c" / "responses.sqlite"
    prompts = {part: [f"q {part * 20 + i}" for i in range(40)] for part in range(3)}  # overlap
    procs = []
    for part, texts in prompts.items():
        inp = tmp_path / f"in{part}.jsonl"
        inp.write_text("".join(json.dumps({"id": t, "prompt": t}) + "\n" for t in texts))
        procs.append(_generate_proc(server.url, inp, tmp_path / f"o{part}", cache))
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    distinct = sorted({t for texts in prompts.values() for t in texts})
    stats = json.loads(_lema("cache", "stats", "--cache", str(cache), "--json"))
    assert len(stats["files"]) == 3 and {f["kind"] for f in stats["files"]} == {"sealed"}
    assert stats["distinct"] == len(distinct) and stats["conflicts"] == 0
    assert stats["entries"] == 120 and stats["duplicates"] == 120 - len(distinct)
    reqs = [Request(t, prompt=t) for t in distinct]
    spec = {"backend": "openai", "model": "m", "base_url": server.url}
    server.reset()
    before = generate(spec, reqs, cache=cache)
    assert server.stats()["requests"] == 0
    out = _lema("cache", "merge", "--cache", str(cache))
    assert "merged 3 shard(s)" in out and f"{len(distinct)} kept" in out
    assert list_shards(cache) == [] and _sidecars(tmp_path) == []
    stats = cache_stats(cache)
    assert [f.kind for f in stats.files] == ["base"]
    assert stats.entries == stats.distinct == len(distinct)
    after = generate(spec, reqs, cache=cache)
    assert server.stats()["requests"] == 0
    assert [r.completions for r in after] == [r.completions for r in before]
    # merging again with nothing new changes nothing
    assert merge_cache(cache).merged == [] and cache_stats(cache).entries == len(distinct)


def test_merge_changes_no_answer_and_leaves_shards_that_may_be_written(tmp_path):
    path = tmp_path / "responses.sqlite"
    for value in ("first", "second"):
        with ResponseCache(path) as c:
            c.put("k", value)
            c.put(f"only-{value}", value)
    with ResponseCache(path) as c:
        answer = c.get_many(["k", "only-first", "only-second"])
    live = ResponseCache(path)
    live.put("live", "L")  # open, its writer (this process) running
    other = shard_dir(path) / "elsewhere-77-0123456789ab.open.sqlite"
    conn = connect_writer(other, 5)  # an open shard of a job on another host
    conn.execute("INSERT INTO responses VALUES ('remote', 'R', '{}', 0)")
    conn.close()
    report = merge_cache(path)
    assert len(report.merged) == 2 and len(report.left) == 2
    assert {p.name for p in list_shards(path)} == {live.shard.name, other.name}
    live.put("live-2", "L2")  # the running writer carries on in its shard
    live.close()
    with ResponseCache(path) as c:
        assert c.get_many(["k", "only-first", "only-second"]) == answer
        assert set(c.get_many(["live", "live-2", "remote"])) == {"live", "live-2", "remote"}
    report = merge_cache(path, include_open=True)
    assert len(report.merged) == 2 and list_shards(path) == []
    with ResponseCache(path) as c:
        assert len(c) == 6 and c.get("k") == answer["k"]


def test_one_merge_at_a_time(tmp_path):
    path = tmp_path / "responses.sqlite"
    with ResponseCache(path) as c:
        c.put("a", "A")
    lock = tmp_path / "responses.sqlite.merge-lock"
    lock.write_text("somehost 1\n")
    with pytest.raises(LemaError, match="another `lema cache merge` is running"):
        merge_cache(path)
    assert len(list_shards(path)) == 1
    lock.unlink()
    assert len(merge_cache(path).merged) == 1


KILLED = """
import os, sys
from lema.models import ResponseCache
cache = ResponseCache(sys.argv[1])
for i in range(100):
    cache.put(f"k{i}", f"v{i}")
print(cache.shard, flush=True)
big = "x" * 4000
cache.put_many((f"big{i}", big, {}) for i in range(40000))  # killed in the middle
print("finished", flush=True)
"""


def test_a_writer_killed_mid_write_loses_only_its_in_flight_entry(tmp_path):
    path = tmp_path / "responses.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(path)], env=ENV, stdout=subprocess.PIPE, text=True
    )
    shard = Path(proc.stdout.readline().strip())
    journal = Path(str(shard) + "-journal")
    size = shard.stat().st_size
    deadline = time.monotonic() + 60
    while shard.stat().st_size < size + (8 << 20) and time.monotonic() < deadline:
        time.sleep(0.01)  # until the big transaction spills pages into the shard itself
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert journal.exists() and shard.name.endswith(".open.sqlite")  # a hot journal
    before = _digest(tmp_path / "responses.sqlite.d")
    with ResponseCache(path) as c:
        got = c.get_many([f"k{i}" for i in range(100)] + ["big0", "big39999"])
        assert set(got) == {f"k{i}" for i in range(100)} and got["k99"] == ("v99", {})
    assert _digest(tmp_path / "responses.sqlite.d") == before  # recovered in a private copy
    stats = cache_stats(path)
    assert [(f.kind, f.read, f.entries) for f in stats.files] == [
        ("abandoned", "recovered copy", 100)
    ]
    report = merge_cache(path)  # its writer is gone: merge takes it
    assert report.merged == [str(shard)] and report.entries == 100
    assert not shard.exists() and not journal.exists()
    with ResponseCache(path) as c:
        assert len(c) == 100


def test_a_folder_as_the_cache_path_is_one_clear_error(tmp_path):
    for call in (ResponseCache, cache_stats, merge_cache):
        with pytest.raises(LemaError, match="is a folder: give the cache's file name"):
            call(tmp_path)


def test_a_base_that_is_no_cache_is_one_clear_error(tmp_path):
    path = tmp_path / "responses.sqlite"
    path.write_text("not a database")
    with pytest.raises(LemaError, match=r"responses.sqlite: cannot read \(file is not a data"):
        ResponseCache(path)
