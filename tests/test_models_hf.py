"""The hf backend on a tiny random-init model built on the fly (no downloads), and the
`lema tiny-model` command."""

from __future__ import annotations

import json

import pytest

from lema.cli import main as lema_main
from lema.models import GenerationStats, Request, Sampling, generate

TEXT = [
    f"Question: Tom has {i} apples and buys {i + 2} more. How many? Answer: {2 * i + 2}"
    for i in range(300)
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from lema.models.tiny import build_tiny_model

    return str(
        build_tiny_model(tmp_path_factory.mktemp("m") / "tiny", TEXT, vocab_size=400, seed=1)
    )


def spec(model, **extra):
    return {"name": "tiny", "backend": "hf", "model": model, "batch_size": 4, **extra}


def reqs(count=6, **sampling):
    out = [
        Request(f"p{i}", prompt=f"Question: Tom has {i} apples", sampling=Sampling(**sampling))
        for i in range(count)
    ]
    out.append(
        Request(
            "chat",
            messages=[
                {"role": "system", "content": "Solve it."},
                {"role": "user", "content": "What is 2 + 2?"},
            ],
            sampling=Sampling(**sampling),
        )
    )
    return out


def texts(results):
    return {r.id: r.completions for r in results}


def test_batched_sampling_is_deterministic_and_batch_independent(tiny):
    s = dict(n=3, temperature=0.9, top_p=0.95, max_tokens=12, seed=7)
    a = generate(spec(tiny), reqs(**s), cache=False)
    b = generate(spec(tiny, batch_size=16), list(reversed(reqs(**s))), cache=False)
    assert texts(a) == texts(b)
    assert all(len(r.completions) == 3 for r in a)
    assert len(set(a[0].completions)) > 1  # samples differ from each other
    c = generate(spec(tiny), reqs(**{**s, "seed": 8}), cache=False)
    assert texts(c) != texts(a)
    for r in a:
        assert 0 < r.usage["completion_tokens"] <= 36 and r.usage["prompt_tokens"] > 0
        assert set(r.finish_reasons) <= {"stop", "length"}


def test_greedy_chat_and_prompt(tiny):
    res = generate(spec(tiny), reqs(n=2, temperature=0.0, max_tokens=10), cache=False)
    for r in res:
        assert len(r.completions) == 2 and r.completions[0] == r.completions[1]
    again = generate(
        spec(tiny, batch_size=1), reqs(n=1, temperature=0.0, max_tokens=10), cache=False
    )
    assert {k: v[:1] for k, v in texts(res).items()} == texts(again)


def test_stop_strings_cut_the_text(tiny):
    (base,) = generate(
        spec(tiny),
        [Request("s", prompt="Question: Tom", sampling=Sampling(max_tokens=30))],
        cache=False,
    )
    full = base.completions[0]
    stop = next((full[i : i + 2] for i in range(3, len(full) - 2) if full[i : i + 2].strip()), None)
    if stop is None:
        pytest.skip("greedy output too uniform to pick a stop string")
    (cut,) = generate(
        spec(tiny),
        [Request("s", prompt="Question: Tom", sampling=Sampling(max_tokens=30, stop=(stop,)))],
        cache=False,
    )
    assert cut.completions[0] == full[: full.find(stop)]
    assert cut.finish_reasons == ["stop"]


def test_cache_makes_reruns_free(tiny, tmp_path):
    cache = tmp_path / "c.sqlite"
    s1 = GenerationStats()
    first = generate(
        spec(tiny), reqs(n=2, temperature=0.7, max_tokens=8, seed=1), cache=cache, stats=s1
    )
    assert s1.requests_sent > 0 and s1.cache_hits == 0
    s2 = GenerationStats()
    second = generate(
        spec(tiny), reqs(n=2, temperature=0.7, max_tokens=8, seed=1), cache=cache, stats=s2
    )
    assert s2.requests_sent == 0 and s2.cache_hits == 14
    assert texts(first) == texts(second)
    assert [r.usage for r in first] == [r.usage for r in second]


def test_lora_adapter_is_loaded(tiny, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny)
    cfg = LoraConfig(
        r=4, lora_alpha=32, target_modules=["q_proj", "v_proj", "o_proj"], init_lora_weights=False
    )
    peft_model = get_peft_model(model, cfg)
    with torch.no_grad():  # make the adapter's effect large enough to change greedy tokens
        for name, p in peft_model.named_parameters():
            if "lora_" in name:
                p.mul_(20)
    peft_model.save_pretrained(tmp_path / "adapter")
    cache = tmp_path / "c.sqlite"
    r = reqs(temperature=0.0, max_tokens=12)
    base = generate(spec(tiny), r, cache=cache)
    tuned = generate(spec(tiny, adapter=str(tmp_path / "adapter")), r, cache=cache)
    assert texts(base) != texts(tuned)
    stats = GenerationStats()
    again = generate(spec(tiny, adapter=str(tmp_path / "adapter")), r, cache=cache, stats=stats)
    assert texts(again) == texts(tuned) and stats.requests_sent == 0


def test_tiny_model_cli(tmp_path):
    from transformers import AutoModelForCausalLM

    from lema.models.hf import load_tokenizer

    src = tmp_path / "train.jsonl"
    src.write_text("".join(json.dumps({"question": t, "solution": "x"}) + "\n" for t in TEXT))
    out = tmp_path / "models" / "tiny-cli"
    assert (
        lema_main(
            [
                "tiny-model",
                "--out",
                str(out),
                "--vocab-size",
                "350",
                "--hidden-size",
                "32",
                "--heads",
                "2",
                "--layers",
                "1",
                str(src),
            ]
        )
        == 0
    )
    tok = load_tokenizer(str(out))
    assert tok.padding_side == "left" and tok.pad_token_id is not None
    assert (
        tok.decode(tok("Tom has 3 apples")["input_ids"], skip_special_tokens=True)
        == "Tom has 3 apples"
    )
    assert tok.chat_template
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 1
    # same settings and text -> same weights (a rebuild is reproducible)
    again = tmp_path / "models" / "tiny-cli-2"
    assert (
        lema_main(
            [
                "tiny-model",
                "--out",
                str(again),
                "--vocab-size",
                "350",
                "--hidden-size",
                "32",
                "--heads",
                "2",
                "--layers",
                "1",
                str(src),
            ]
        )
        == 0
    )
    assert (out / "model.safetensors").read_bytes() == (again / "model.safetensors").read_bytes()
    assert (out / "tokenizer.json").read_text() == (again / "tokenizer.json").read_text()


def test_generate_cli_with_hf(tiny, tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text(
        json.dumps({"id": "a", "prompt": "Question: Tom"})
        + "\n"
        + json.dumps({"id": "b", "messages": [{"role": "user", "content": "Hi"}]})
        + "\n"
    )
    out = tmp_path / "out.jsonl"
    argv = [
        "generate",
        "--backend",
        "hf",
        "--model",
        tiny,
        "--input",
        str(inp),
        "--output",
        str(out),
        "--max-tokens",
        "6",
        "--n",
        "2",
        "--temperature",
        "0.8",
        "--seed",
        "1",
        "--cache",
        str(tmp_path / "c.sqlite"),
        "--no-progress",
    ]
    assert lema_main(argv) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"] and all(len(r["completions"]) == 2 for r in rows)
