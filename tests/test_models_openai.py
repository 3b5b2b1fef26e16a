"""The openai backend against a REAL local OpenAI-compatible HTTP server (tests/openai_server.py):
fault injection, retries, the response cache, n>1, the spending cap, the CLI, key hygiene."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from lema.cli import main as lema_main
from lema.errors import LemaError
from lema.models import BudgetExceeded, GenerationStats, Request, Sampling, generate


def spec_for(server, **extra):
    spec = {
        "name": "fake",
        "backend": "openai",
        "model": "fake-model",
        "base_url": server.url,
        "concurrency": 16,
        "timeout_s": 5.0,
        "max_retries": 8,
    }
    spec.update(extra)
    return spec


def requests(count, prefix="question", **sampling):
    return [
        Request(f"id{i}", prompt=f"{prefix} {i}", sampling=Sampling(**sampling))
        for i in range(count)
    ]


def test_fault_injection_every_id_answered_once(openai_server, tmp_path):
    server = openai_server(fault_rate=0.3, slow_s=1.0, retry_after=0.05, seed=1)
    spec = spec_for(server, timeout_s=0.4, max_retries=12, concurrency=32)
    reqs = requests(200)
    stats = GenerationStats()
    results = generate(spec, reqs, cache=tmp_path / "c.sqlite", stats=stats)
    assert [r.id for r in results] == [r.id for r in reqs]
    assert all(len(r.completions) == 1 and r.completions[0] for r in results)
    s = server.stats()
    # every fault kind happened, every id was answered exactly once (no duplicate spend)
    assert set(s["faults"]) == {"429", "500", "malformed", "slow", "drop"}
    assert s["keys_answered"] == 200 and s["max_answers_per_key"] == 1
    assert s["answered"] == 200
    # retries bounded and all accounted for: every attempt is one request or one retry; the
    # server saw at most those, and an attempt it never saw (the client's 0.4 s deadline ran
    # out before the request reached the handler, which happens on a loaded machine) was
    # recorded by the client as a timeout or a connection fault
    assert stats.requests_sent == 200 + stats.retries
    unseen = stats.requests_sent - s["requests"]
    assert 0 <= unseen <= stats.faults.get("timeout", 0) + stats.faults.get("connection", 0)
    assert max(server.attempts.values()) <= 13
    assert stats.completion_tokens == s["completion_tokens"]

    # the rerun on the same cache sends nothing and gives identical completions
    server.reset()
    stats2 = GenerationStats()
    again = generate(spec, reqs, cache=tmp_path / "c.sqlite", stats=stats2)
    assert server.stats()["requests"] == 0 and stats2.requests_sent == 0
    assert stats2.cache_hits == 200
    assert [r.completions for r in again] == [r.completions for r in results]
    assert [r.usage for r in again] == [r.usage for r in results]


def test_retries_are_bounded_and_failure_is_reported(openai_server, tmp_path):
    server = openai_server(fault_fn=lambda body, attempt: "500")
    spec = spec_for(server, max_retries=2)
    with pytest.raises(LemaError, match="gave up after 3 attempt"):
        generate(spec, requests(3), cache=tmp_path / "c.sqlite")
    assert server.stats()["requests"] == 9  # 3 requests x (1 + 2 retries)


def test_retry_after_is_honoured(openai_server, tmp_path):
    server = openai_server(
        fault_fn=lambda body, attempt: "429" if attempt == 0 else None, retry_after=0.6
    )
    t0 = time.monotonic()
    (res,) = generate(spec_for(server), requests(1), cache=tmp_path / "c.sqlite")
    assert time.monotonic() - t0 >= 0.6
    assert res.completions[0].startswith("Reply")
    assert server.stats()["requests"] == 2


def test_bad_key_is_fatal_and_not_retried(openai_server, tmp_path, monkeypatch):
    server = openai_server(api_key="right-key")
    monkeypatch.setenv("LEMA_TEST_KEY", "wrong-key")
    with pytest.raises(LemaError, match="HTTP 401") as err:
        generate(spec_for(server, api_key_env="LEMA_TEST_KEY"), requests(20), cache=tmp_path / "c")
    assert "wrong-key" not in str(err.value)
    assert server.stats()["requests"] <= 16  # the first wave at most, no retries


def test_n_samples_one_call_cached_per_index(openai_server, tmp_path):
    server = openai_server()
    spec = spec_for(server)
    cache = tmp_path / "c.sqlite"
    (r4,) = generate(spec, requests(1, n=4, temperature=0.7, seed=3), cache=cache)
    assert len(r4.completions) == 4 and len(set(r4.completions)) == 4
    assert server.stats()["requests"] == 1 and server.stats()["choices_served"] == 4
    (r6,) = generate(spec, requests(1, n=6, temperature=0.7, seed=3), cache=cache)
    assert r6.completions[:4] == r4.completions
    assert server.stats()["requests"] == 2 and server.stats()["choices_served"] == 6
    (r2,) = generate(spec, requests(1, n=2, temperature=0.7, seed=3), cache=cache)
    assert r2.completions == r4.completions[:2]
    assert server.stats()["requests"] == 2


def test_server_without_n_support(openai_server, tmp_path):
    server = openai_server(support_n=False)
    (res,) = generate(
        spec_for(server), requests(1, n=3, temperature=1.0, seed=0), cache=tmp_path / "c.sqlite"
    )
    assert len(res.completions) == 3
    assert server.stats()["requests"] == 3


def test_chat_and_completion_endpoints(openai_server, tmp_path):
    seen = []

    def answer(body, index):
        seen.append(body)
        return "ok " + ("chat" if "messages" in body else "completion")

    server = openai_server(answer=answer)
    chat_req = Request(
        "c",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    )
    res = generate(spec_for(server), [chat_req, Request("p", prompt="Hello")], cache=False)
    assert [r.completions[0] for r in res] == ["ok chat", "ok chat"]
    assert seen[-1]["messages"][-1]["content"] in ("Hi", "Hello")
    res = generate(
        spec_for(server, chat=False), [Request("p", prompt="Hello"), chat_req], cache=False
    )
    assert [r.completions[0] for r in res] == ["ok completion", "ok completion"]
    prompts = {b.get("prompt") for b in seen if "prompt" in b}
    assert "Hello" in prompts and any("Be brief." in p for p in prompts)


def test_sampling_settings_reach_the_server(openai_server):
    seen = []
    server = openai_server(answer=lambda body, i: seen.append(body) or "x")
    generate(
        spec_for(server),
        [
            {
                "id": "a",
                "prompt": "p",
                "temperature": 0.3,
                "top_p": 0.9,
                "max_tokens": 7,
                "stop": ["\n\n"],
                "seed": 5,
            }
        ],
        cache=False,
    )
    body = seen[0]
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["stop"], body["seed"]) == (
        0.3,
        0.9,
        7,
        ["\n\n"],
        5,
    )
    assert "n" not in body


def test_spending_cap_stops_before_exceeding_and_keeps_paid(openai_server, tmp_path):
    server = openai_server()
    cache = tmp_path / "c.sqlite"
    # server tokens: prompt = words + 3, completion = 6 words -> ~0.011 USD per request
    priced = dict(price_per_1k_prompt=1.0, price_per_1k_completion=1.0, concurrency=4)
    reqs = requests(40, max_tokens=20)
    with pytest.raises(BudgetExceeded) as err:
        generate(spec_for(server, max_cost_usd=0.2, **priced), reqs, cache=cache)
    exc = err.value
    assert "max_cost_usd" in str(exc) and "\n" not in str(exc)
    assert 0 < exc.spent_usd <= 0.2
    paid = server.stats()["answered"]
    assert 0 < paid < 40 and len(exc.results) == paid
    assert server.stats()["max_answers_per_key"] == 1
    # a rerun with a higher cap completes from the cache + the rest, never paying twice
    stats = GenerationStats()
    results = generate(
        spec_for(server, max_cost_usd=10.0, **priced), reqs, cache=cache, stats=stats
    )
    assert len(results) == 40 and stats.cache_hits == paid
    s = server.stats()
    assert s["answered"] == 40 and s["max_answers_per_key"] == 1
    total = sum(r.usage["cost_usd"] for r in results)
    assert total == pytest.approx((s["prompt_tokens"] + s["completion_tokens"]) / 1000)


def test_api_key_never_stored_or_logged(openai_server, tmp_path, monkeypatch, capsys, caplog):
    secret = "sk-lema-SECRET-7f3a9c"
    monkeypatch.setenv("MY_KEY", secret)
    server = openai_server(api_key=secret, fault_rate=0.2, slow_s=0.5)
    caplog.set_level(logging.DEBUG)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text(
        "".join(json.dumps({"id": f"k{i}", "prompt": f"q {i}"}) + "\n" for i in range(30))
    )
    argv = [
        "generate",
        "--backend",
        "openai",
        "--model",
        "m",
        "--base-url",
        server.url,
        "--api-key-env",
        "MY_KEY",
        "--input",
        str(inp),
        "--output",
        str(out),
        "--cache",
        str(tmp_path / "cache.sqlite"),
        "--timeout",
        "0.3",
        "--no-progress",
    ]
    assert lema_main(argv) == 0
    assert server.stats()["other"].get("unauthorized", 0) == 0  # the key was used
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err + caplog.text
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f


def test_cli_rerun_identical_and_zero_requests(openai_server, tmp_path, capsys):
    server = openai_server(fault_rate=0.2, slow_s=0.5, seed=2)
    inp = tmp_path / "in.jsonl"
    rows = [
        {"id": f"m{i}", "messages": [{"role": "user", "content": f"what is {i}?"}]}
        for i in range(50)
    ] + [{"id": "p", "prompt": "plain", "n": 2, "temperature": 0.9}]
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = [
        "generate",
        "--backend",
        "openai",
        "--model",
        "m",
        "--base-url",
        server.url,
        "--input",
        str(inp),
        "--cache",
        str(tmp_path / "c.sqlite"),
        "--timeout",
        "0.3",
        "--concurrency",
        "8",
        "--max-tokens",
        "64",
    ]
    assert lema_main([*base, "--output", str(tmp_path / "a.jsonl")]) == 0
    err = capsys.readouterr().err
    assert "requests sent" in err and "cache hits 0" in err
    first = server.stats()
    assert first["keys_answered"] == 51 and first["max_answers_per_key"] == 1
    server.reset()
    assert lema_main([*base, "--output", str(tmp_path / "b.jsonl")]) == 0
    assert "requests sent 0, cache hits 52" in capsys.readouterr().err
    assert server.stats()["requests"] == 0
    a = (tmp_path / "a.jsonl").read_text()
    assert a == (tmp_path / "b.jsonl").read_text()
    out = [json.loads(line) for line in a.splitlines()]
    assert [o["id"] for o in out] == [r["id"] for r in rows]
    assert len(out[-1]["completions"]) == 2
    assert set(out[0]) == {"id", "completions", "usage"}
    assert out[0]["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": 1, "prompt": "a"}', "{not json"], "in.jsonl:2: not valid JSON"),
        (['{"id": 1, "prompt": "a"}', '{"prompt": "b"}'], "in.jsonl:2: request without an 'id'"),
        (['{"id": 1, "prompt": "a", "messages": []}'], "in.jsonl:1: request '1': give exactly one"),
        (['{"id": 1, "prompt": "a"}', '{"id": 1, "prompt": "b"}'], "in.jsonl:2: duplicate id '1'"),
    ],
)
def test_cli_bad_input(tmp_path, capsys, lines, message):
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(lines) + "\n")
    rc = lema_main(
        [
            "generate",
            "--backend",
            "openai",
            "--model",
            "m",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--input",
            str(inp),
            "--output",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 1 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_file_backend(tmp_path):
    src = tmp_path / "paths.jsonl"
    src.write_text(
        json.dumps({"id": "a", "completions": ["x", "y", "z"]})
        + "\n"
        + json.dumps({"id": "b", "completions": ["w"]})
        + "\n"
    )
    spec = {"backend": "file", "path": str(src)}
    res = generate(
        spec, [Request("a", prompt="q", sampling=Sampling(n=2)), Request("b", prompt="q")]
    )
    assert [r.completions for r in res] == [["x", "y"], ["w"]]
    with pytest.raises(LemaError, match=r"no completions for 1 request id\(s\): 'c'"):
        generate(spec, [Request("c", prompt="q")])
    with pytest.raises(LemaError, match="has 1 completion"):
        generate(spec, [Request("b", prompt="q", sampling=Sampling(n=3))])


def test_file_backend_cli(tmp_path):
    src = tmp_path / "paths.jsonl"
    src.write_text(json.dumps({"id": "a", "completions": ["x"]}) + "\n")
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "a", "prompt": "q"}) + "\n")
    out = tmp_path / "out.jsonl"
    assert (
        lema_main(
            [
                "generate",
                "--backend",
                "file",
                "--path",
                str(src),
                "--input",
                str(inp),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["completions"] == ["x"]


def test_generate_accepts_plain_dicts_and_keeps_order(openai_server, tmp_path):
    server = openai_server(latency=0.01)
    reqs = [{"id": f"d{i}", "prompt": f"p{i}"} for i in range(30)][::-1]
    res = generate(spec_for(server), reqs, cache=tmp_path / "c.sqlite")
    assert [r.id for r in res] == [r["id"] for r in reqs]
    assert res[0]["completions"] == res[0].completions  # dict-style access
    with pytest.raises(LemaError, match="duplicate request id"):
        generate(spec_for(server), [reqs[0], reqs[0]], cache=False)


def test_missing_key_for_the_official_endpoint(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    spec = {"backend": "openai", "model": "gpt-4", "api_key_env": "NO_SUCH_KEY_VAR"}
    with pytest.raises(LemaError, match="NO_SUCH_KEY_VAR is not set"):
        generate(spec, requests(1), cache=tmp_path / "c.sqlite")


def test_cache_file_has_no_plaintext_secrets(openai_server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-appear")
    server = openai_server()
    generate(spec_for(server), requests(3), cache=tmp_path / "c.sqlite")
    files = [p for p in Path(tmp_path).rglob("*") if p.is_file()]  # the base and its shards
    assert any(p.parent.name == "c.sqlite.d" for p in files)
    data = b"".join(p.read_bytes() for p in files)
    assert b"sk-should-not-appear" not in data


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_closed_port_says_connection_refused(tmp_path, capsys):
    """Nothing listens: the error says so at once, not "no reply within 120 s" (the aiohttp
    transport reports a refused connect as a timeout)."""
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": "a", "prompt": "hi"}\n')
    args = ["generate", "--backend", "openai", "--model", "m", "--base-url", url,
            "--input", str(inp), "--output", str(tmp_path / "o.jsonl"),
            "--cache", str(tmp_path / "c.sqlite"), "--max-retries", "1"]  # fmt: skip
    t0 = time.monotonic()
    assert lema_main(args) == 1
    err = capsys.readouterr().err
    assert f"connection refused at {url}" in err and "no reply within" not in err, err
    assert time.monotonic() - t0 < 30
    assert not (tmp_path / "o.jsonl").exists()


def test_a_slow_server_still_reads_as_no_reply(openai_server, tmp_path):
    """The other way: a server that accepts the connection but does not answer in time is
    a timeout, not a refused connection."""
    server = openai_server(fault_fn=lambda body, attempt: "slow", slow_s=2.0)
    spec = spec_for(server, timeout_s=0.3, max_retries=0)
    with pytest.raises(LemaError, match=r"no reply within 0\.3 s") as info:
        generate(spec, requests(1), cache=tmp_path / "c.sqlite")
    assert "refused" not in str(info.value)
