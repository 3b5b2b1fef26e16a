"""The persistent response cache: keys, several processes writing at once, crash safety."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path

from lema.models import Request, ResponseCache, Sampling, cache_key, generate
from lema.models.openai_backend import identity

ROOT = Path(__file__).resolve().parents[1]


def test_key_depends_on_what_changes_a_sample_only():
    ident = {"backend": "openai", "model": "m", "chat": True}
    content = {"prompt": "x"}
    s = Sampling(temperature=0.5).key_dict()
    k = cache_key(ident, content, s, 0)
    assert k == cache_key(dict(reversed(ident.items())), content, s, 0)  # canonical JSON
    assert k != cache_key(ident, content, s, 1)
    assert k != cache_key(ident, {"prompt": "y"}, s, 0)
    assert k != cache_key(ident, content, Sampling(temperature=0.6).key_dict(), 0)
    assert k != cache_key({**ident, "model": "m2"}, content, s, 0)
    # n is not part of a sample's key: n=8 reuses the samples of n=4
    assert Sampling(n=4).key_dict() == Sampling(n=8).key_dict()
    # the endpoint and the key's environment variable are not part of the identity
    a = identity({"model": "m", "base_url": "http://a/v1", "api_key_env": "A"})
    b = identity({"model": "m", "base_url": "http://b:8000/v1", "api_key_env": "B"})
    assert a == b


def _writer(path: str, worker: int, count: int) -> None:
    cache = ResponseCache(path)
    for i in range(count):
        key = f"k{(i + worker * count // 2) % (2 * count)}"  # half the keys overlap
        cache.put(key, f"value of {key}", {"worker": worker})
        if i % 50 == 0:
            assert cache.get(key)[0] == f"value of {key}"
    cache.close()


def test_several_processes_share_one_cache(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ctx = mp.get_context("spawn" if sys.platform == "darwin" else "fork")
    procs = [ctx.Process(target=_writer, args=(path, w, 300)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = ResponseCache(path)
    got = cache.get_many(f"k{i}" for i in range(600))
    assert len(got) == 600 and len(cache) == 600
    assert all(v[0] == f"value of {k}" for k, v in got.items())
    # each process wrote its own shard, with a rollback journal (no WAL, no shared memory)
    assert len(list((tmp_path / "shared.sqlite.d").iterdir())) == 4
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(("-wal", "-shm"))]


def test_concurrent_generate_processes_share_a_cache(openai_server, tmp_path):
    server = openai_server(latency=0.02)
    cache = tmp_path / "c.sqlite"
    procs = []
    for part in range(3):
        inp = tmp_path / f"in{part}.jsonl"
        inp.write_text(
            "".join(
                json.dumps({"id": f"{part}-{i}", "prompt": f"q {part} {i}"}) + "\n"
                for i in range(40)
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "lema.cli",
                    "generate",
                    "--backend",
                    "openai",
                    "--model",
                    "m",
                    "--base-url",
                    server.url,
                    "--input",
                    str(inp),
                    "--output",
                    str(tmp_path / f"o{part}"),
                    "--cache",
                    str(cache),
                    "--concurrency",
                    "8",
                    "--no-progress",
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    s = server.stats()
    assert s["keys_answered"] == 120 and s["max_answers_per_key"] == 1
    server.reset()
    reqs = [Request(f"{part}-{i}", prompt=f"q {part} {i}") for part in range(3) for i in range(40)]
    spec = {"backend": "openai", "model": "m", "base_url": server.url}
    results = generate(spec, reqs, cache=cache)
    assert server.stats()["requests"] == 0
    first = {
        json.loads(line)["id"]: json.loads(line)["completions"]
        for part in range(3)
        for line in (tmp_path / f"o{part}").read_text().splitlines()
    }
    assert {r.id: r.completions for r in results} == first


def test_each_completion_is_stored_as_it_arrives(openai_server, tmp_path):
    """A run that dies part-way (here: the server turns bad) keeps every completion received."""

    def fault(body, attempt):
        text = body.get("prompt") or body["messages"][-1]["content"]
        return "500" if text.endswith(("7", "9")) else None

    server = openai_server(fault_fn=fault)
    cache = tmp_path / "c.sqlite"
    spec = {"backend": "openai", "model": "m", "base_url": server.url, "max_retries": 1}
    reqs = [Request(f"r{i}", prompt=f"q {i}") for i in range(20)]
    try:
        generate(spec, reqs, cache=cache)
    except Exception:  # noqa: BLE001 - expected: 4 requests fail for good
        pass
    assert len(ResponseCache(cache)) == 16
    server.fault_fn = None
    server.reset()
    generate(spec, reqs, cache=cache)
    assert server.stats()["requests"] == 4
