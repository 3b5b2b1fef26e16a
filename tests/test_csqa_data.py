"""CommonsenseQA's data layer (lema.data.csqa): the real dev file (microsoft/LEMA's copy, our
test split) ingests, both formats read with the right gold, bad rows fail naming file and
line, the public source downloads through $LEMA_DATA_MIRROR (the test file pinned, the train
file trusted on first download), and the local and embedded sources do what they say."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path

import polars as pl
import pytest
from datafiles import SHARED_CSQA_DEV
from http_files import http_server, pinned_mirror

from lema.cli import main as lema_main
from lema.data import build as data
from lema.data import download
from lema.data.csqa import csqa_question
from lema.errors import ConfigError, DataError
from lema.tables import BENCHMARK_COLUMNS


def _write(path: Path, rows: list[dict | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _original(ident: str, stem: str, texts: list[str], key: str, concept: str = "c") -> dict:
    labels = "ABCDE"[: len(texts)]
    return {
        "answerKey": key,
        "id": ident,
        "question": {
            "question_concept": concept,
            "choices": [{"label": x, "text": t} for x, t in zip(labels, texts, strict=True)],
            "stem": stem,
        },
    }


def _lema(stem: str, candidates: list[str], answer: str) -> dict:
    return {
        "prompt": "Please answer the following commonsense question.\n"
        f"Question: {stem}\nCandidate Answers: {', '.join(candidates)}.\n"
        "Answer: Let's think step by step.\n",
        "answer": answer,
        "candidates": candidates,
    }


ORIGINAL_ROWS = [
    _original(
        "075e483d21c29a511267ef62bedc0461",
        "The sanctions against the school were a punishing blow, and they seemed to what the "
        "efforts the school had made to change?",
        ["ignore", "enforce", "authoritarian", "yell at", "avoid"],
        "A",
        "punishing",
    ),
    _original("61fe6e879ff18686d7552425a36344c8", "Where is a business restaurant likely to be?",
              ["town", "at hotel", "mall", "business sector", "yellow pages"], "D", "restaurant"),
    _original("4c1cb0e95b99f72d55c068ba0255c54d", "  Where do you keep a pen?  ",
              ["desk drawer", "pocket"], "B", ""),
]  # fmt: skip

LEMA_ROWS = [
    _lema(
        "A revolving door is convenient for two direction travel, but it also serves as a "
        "security measure at a what?",
        ["bank", "library", "department store", "mall", "new york"],
        "bank",
    ),
    _lema("What do people aim to do at work?", ["complete job", "wear hats"], "wear hats"),
]


def _table(split: str, path: Path | str) -> pl.DataFrame:
    """The table of data.local.csqa ``path``; a file ``{split}.jsonl`` stands for its folder."""
    if Path(path).is_file() and Path(path).name == f"{split}.jsonl":
        path = Path(path).parent
    return data.build_table("csqa", split, "local", path, progress=False)


# --------------------------------------------------------------------------- both formats
def test_original_format_reads_gold_from_answer_key(tmp_path):
    folder = tmp_path / "csqa"
    _write(folder / "train.jsonl", ORIGINAL_ROWS)
    table = _table("train", folder)
    assert tuple(table.columns) == BENCHMARK_COLUMNS
    assert table["id"].to_list() == [f"csqa-train-{r['id']}" for r in ORIGINAL_ROWS]
    assert table["gold"].to_list() == ["ignore", "business sector", "pocket"]
    assert table["choices"][1].to_list() == [
        "town",
        "at hotel",
        "mall",
        "business sector",
        "yellow pages",
    ]
    assert table["question"][1] == (
        "Where is a business restaurant likely to be?\n"
        "Answer choices: town, at hotel, mall, business sector, yellow pages."
    )
    assert table["question"][2] == "Where do you keep a pen?\nAnswer choices: desk drawer, pocket."
    assert table["subject"].to_list() == ["punishing", "restaurant", None]
    assert table["solution"].to_list() == [None] * 3 and table["level"].to_list() == [None] * 3
    assert set(table["answer_type"]) == {"choice"} and set(table["task"]) == {"csqa"}
    assert set(table["split"]) == {"train"}


def test_choices_follow_label_order(tmp_path):
    row = _original("abc", "Which?", ["one", "two", "three"], "C")
    row["question"]["choices"].reverse()  # C, B, A in the file
    table = _table("test", _write(tmp_path / "test.jsonl", [row]))
    assert table["choices"][0].to_list() == ["one", "two", "three"]
    assert table["gold"][0] == "three"


def test_lema_format_and_a_mixed_file(tmp_path):
    path = _write(tmp_path / "mixed" / "test.jsonl", [*LEMA_ROWS, ORIGINAL_ROWS[1]])
    table = _table("test", path.parent)
    assert table["id"].to_list() == [
        "csqa-test-00000",
        "csqa-test-00001",
        f"csqa-test-{ORIGINAL_ROWS[1]['id']}",
    ]
    assert table["gold"].to_list() == ["bank", "wear hats", "business sector"]
    assert table["question"][1] == (
        "What do people aim to do at work?\nAnswer choices: complete job, wear hats."
    )
    assert table["choices"][0].to_list() == LEMA_ROWS[0]["candidates"]
    assert table["subject"].to_list() == [None, None, "restaurant"]
    assert csqa_question(" Why? ", ["a", "b"]) == "Why?\nAnswer choices: a, b."


def test_a_stem_over_several_lines(tmp_path):
    row = _lema("First line\nsecond line?", ["x", "y"], "y")
    table = _table("test", _write(tmp_path / "test.jsonl", [row]))
    assert table["question"][0] == "First line\nsecond line?\nAnswer choices: x, y."


def _no_stem() -> dict:
    row = _original("x1", "s", ["a", "b"], "A")
    del row["question"]["stem"]
    return row


BAD_ROWS = [
    (_original("x1", "Q?", ["a", "b", "c"], "D"), r"'answerKey' must be one of the choice labels"),
    (_original("x1", "Q?", ["a"], "A"), r"at least two choices"),
    (_original("x 1", "Q?", ["a", "b"], "A"), r"field 'id' must be a word"),
    (_no_stem(), r"missing field 'stem'"),
    (_original("x1", "   ", ["a", "b"], "A"), r"field 'stem' is empty"),
    (_lema("Q?", ["a", "b"], "c"), r"'answer' 'c' is not one of the candidates \(a, b\)"),
    (_lema("Q?", ["a"], "a"), r"'candidates' must be a list of at least two"),
    ({**_lema("Q?", ["a", "b"], "a"), "prompt": "Candidate Answers: a, b."}, r"no 'Question:"),
    ({k: v for k, v in _lema("Q?", ["a", "b"], "a").items() if k != "candidates"},
     r"missing field 'candidates'"),
    ({"stem": "Q?", "answer": "a"}, r"neither CommonsenseQA format"),
    ("not json", r"not valid JSON"),
]  # fmt: skip


@pytest.mark.parametrize(("row", "message"), BAD_ROWS)
@pytest.mark.parametrize("good", [ORIGINAL_ROWS[0], LEMA_ROWS[0]], ids=["original", "lema"])
def test_bad_rows_name_file_and_line(row, message, good, tmp_path):
    path = _write(tmp_path / "test.jsonl", [good, row])
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}:2: .*{message}"):
        _table("test", path)


def test_duplicate_ids_fail_naming_both_lines(tmp_path):
    path = _write(tmp_path / "train.jsonl", [ORIGINAL_ROWS[0], ORIGINAL_ROWS[1], ORIGINAL_ROWS[0]])
    ident = f"csqa-train-{ORIGINAL_ROWS[0]['id']}"
    with pytest.raises(DataError, match=rf":3: duplicate id '{ident}' .*train\.jsonl:1\)"):
        _table("train", path)


# --------------------------------------------------------------------------- local, embedded
def test_local_folder_and_split_path(tmp_path, capsys):
    folder = tmp_path / "csqa"
    _write(folder / "train.jsonl", ORIGINAL_ROWS)
    _write(folder / "test.jsonl", LEMA_ROWS)
    for split, n in (("train", 3), ("test", 2)):
        by_folder = _table(split, folder)
        assert by_folder.height == n
        assert by_folder.equals(_table(split, f"{folder}/{{split}}.jsonl"))
    with pytest.raises(DataError, match=r"data\.local\.csqa: .* is a file; give the folder"):
        data.build_table("csqa", "train", "local", folder / "train.jsonl")
    with pytest.raises(DataError, match=r"data\.local\.csqa: .*nowhere does not exist"):
        _table("train", tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"data\.local\.csqa"):
        data.build_table("csqa", "test", "local", None)
    # the command, as the rules run it (the folder through --operational)
    out = tmp_path / "data" / "raw" / "csqa" / "test.parquet"
    ops = json.dumps({"data_local": {"csqa": str(folder)}})
    argv = ["data", "--task", "csqa", "--split", "test", "--source", "local"]
    assert lema_main([*argv, "--operational", ops, "--out", str(out)]) == 0
    assert data.read_raw(out).equals(_table("test", folder))


def test_embedded_fails_with_one_clear_line(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"'csqa' has no embedded slice .*public or local"):
        data.build_table("csqa", "train", "embedded")
    argv = ["data", "--task", "csqa", "--split", "test", "--source", "embedded"]
    assert lema_main([*argv, "--out", str(tmp_path / "t.parquet")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("lema data: error: task 'csqa' has no embedded slice")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "t.parquet").exists()


def _study(**data) -> dict:
    import yaml

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
    return {**config, "tasks": ["gsm8k", "csqa"], "data": data}


def test_config_accepts_data_local_csqa(tmp_path):
    from lema.config import validate_config
    from lema.workflow.knobs import _data_local

    local = {"gsm8k": str(tmp_path), "csqa": str(tmp_path / "{split}.jsonl")}
    config = validate_config(_study(source="local", local=local))
    assert config["data"]["local"]["csqa"] == local["csqa"]
    assert _data_local(config["data"])["csqa"] == local["csqa"]
    with pytest.raises(ConfigError, match=r"'data\.local\.csqa': a path is required"):
        validate_config(_study(source="local", local={"gsm8k": str(tmp_path)}))
    # embedded: one line when the config is checked (the Snakefile loads), naming the task
    with pytest.raises(ConfigError, match=r"'tasks\[1\]': task 'csqa' has no embedded slice"):
        validate_config(_study(source="embedded"))


# --------------------------------------------------------------------------- downloads
def test_public_sources_are_pinned_or_trusted_on_first_download():
    test, train = download.PUBLIC["csqa/test"], download.PUBLIC["csqa/train"]
    assert test.urls == (
        "https://raw.githubusercontent.com/microsoft/LEMA/"
        "94fea82f6d160dbe8a053f1157de347b2955ecd5/test_data/csqa_dev.jsonl",
    )
    assert test.sha256 == "ed62d06f33ab4aebe6da5ae62003a36a3658c6c7527e8d808395976a1eb1f526"
    assert test.size == 604_018
    assert train.urls[0] == "https://s3.amazonaws.com/commensenseqa/train_rand_split.jsonl"
    assert re.fullmatch(r"https://web\.archive\.org/web/\d{14}id_/" + re.escape(train.urls[0]),
                        train.urls[1])  # fmt: skip
    assert train.sha256 is None  # no copy at hand to pin: recorded on first download


def test_public_test_split_verified_against_the_pin(tmp_path, monkeypatch):
    """A file with the pinned checksum (a fixture pinned in its place) builds; tampered
    bytes fail with the checksum and nothing is cached."""
    payload = _write(tmp_path / "lema" / "test.jsonl", LEMA_ROWS).read_bytes()
    pinned = download.PUBLIC["csqa/test"]
    with pinned_mirror(monkeypatch, tmp_path, "csqa/test", payload) as (served, cache, name):
        table = data.build_table("csqa", "test", "public", progress=False)
        assert table.equals(_table("test", tmp_path / "lema"))
        (cache / name).unlink()
        served.write_bytes(payload.replace(b'"bank"', b'"mall"', 1))
        with pytest.raises(DataError, match=r"could not download .*checksum mismatch"):
            data.build_table("csqa", "test", "public", progress=False)
    assert not (cache / name).exists()
    assert not download.sha256_record(cache, pinned).exists()  # pinned: nothing recorded


def test_public_train_split_trusted_on_first_download(tmp_path, monkeypatch, capsys):
    remote = download.PUBLIC["csqa/train"]
    served, cache = tmp_path / "served", tmp_path / "cache"
    first = _write(served / remote.name, ORIGINAL_ROWS).read_bytes()
    first_sha = hashlib.sha256(first).hexdigest()
    record = download.sha256_record(cache, remote)
    monkeypatch.setenv("LEMA_DATA_CACHE", str(cache))

    def build() -> pl.DataFrame:
        return data.build_table("csqa", "train", "public", progress=False)

    with http_server(served) as base:
        monkeypatch.setenv("LEMA_DATA_MIRROR", base)
        capsys.readouterr()
        assert build()["gold"].to_list() == ["ignore", "business sector", "pocket"]
        assert record.read_text().split()[0] == first_sha
        err = capsys.readouterr().err
        assert f"recorded sha256 {first_sha} for {remote.name}" in err
        assert "later downloads are verified against it" in err
        build()  # a cache hit: verified, recorded once
        assert "recorded" not in capsys.readouterr().err
        (cache / remote.name).unlink()
        build()  # the same bytes downloaded again pass
        assert "recorded" not in capsys.readouterr().err
        # the file on the server changes: a new download fails, naming both checksums
        changed = _write(served / remote.name, ORIGINAL_ROWS[:2]).read_bytes()
        changed_sha = hashlib.sha256(changed).hexdigest()
        (cache / remote.name).unlink()
        with pytest.raises(DataError) as err_info:
            build()
        message = str(err_info.value)
        assert remote.name in message and first_sha in message and changed_sha in message
        assert f"delete {record}" in message and len(message.splitlines()) == 1
        assert not (cache / remote.name).exists()
        # a damaged cache copy is downloaded again and checked against the record too
        _write(served / remote.name, ORIGINAL_ROWS)
        build()
        (cache / remote.name).write_bytes(b"damaged")
        assert build().height == 3
        assert (cache / remote.name).read_bytes() == first
        # deleting the record accepts the changed file deliberately
        (served / remote.name).write_bytes(changed)
        (cache / remote.name).unlink()
        record.unlink()
        capsys.readouterr()
        assert build().height == 2
        assert record.read_text().split()[0] == changed_sha
        assert f"recorded sha256 {changed_sha}" in capsys.readouterr().err


def test_trust_on_first_download_falls_back_to_the_mirror(tmp_path):
    served = tmp_path / "served"
    payload = _write(served / "f.jsonl", ORIGINAL_ROWS).read_bytes()
    cache = tmp_path / "cache"
    with http_server(served) as base:
        remote = download.Remote("f.jsonl", (f"{base}/nope.jsonl", f"{base}/f.jsonl"), None)
        assert download.fetch(remote, cache, progress=False).read_bytes() == payload
        record = download.sha256_record(cache, remote)
        assert record.read_text() == f"{hashlib.sha256(payload).hexdigest()}  f.jsonl\n"
        record.write_text("garbage\n")
        with pytest.raises(DataError, match=r"f\.jsonl\.sha256: not a sha256 record; delete it"):
            download.fetch(remote, cache, progress=False)
        gone = download.Remote("g.jsonl", (f"{base}/nope.jsonl",), None)
        with pytest.raises(DataError, match=r"HTTP 404 .* check the network"):
            download.fetch(gone, cache, progress=False)
        assert not download.sha256_record(cache, gone).exists()


# --------------------------------------------------------------------------- the real file
@functools.cache
def _shared_dev() -> pl.DataFrame:
    # data.local.csqa names {split}.jsonl files: read the shared copy as test.jsonl through a link
    folder = Path(tempfile.mkdtemp(prefix="csqa-dev-"))
    (folder / "test.jsonl").symlink_to(SHARED_CSQA_DEV)
    try:
        return _table("test", folder)
    finally:
        shutil.rmtree(folder)


@pytest.mark.shared
def test_real_dev_file_ingests():
    table = _shared_dev()
    assert table.height == 1221 and tuple(table.columns) == BENCHMARK_COLUMNS
    assert table["id"].n_unique() == table.height
    assert table["id"][0] == "csqa-test-00000" and table["gold"][0] == "bank"
    rows = table.to_dicts()
    assert all(len(r["choices"]) == 5 for r in rows)
    assert all(r["gold"] in r["choices"] for r in rows)
    assert all(
        r["question"].endswith(f"\nAnswer choices: {', '.join(r['choices'])}.") for r in rows
    )
    assert all("Question:" not in r["question"] and "Candidate" not in r["question"] for r in rows)
    assert set(table["answer_type"]) == {"choice"} and table["solution"].null_count() == 1221


@pytest.mark.shared
def test_shared_dev_file_matches_the_pin(tmp_path, monkeypatch):
    """Served under its cache name through $LEMA_DATA_MIRROR, the shared copy passes the
    pinned checksum and the public source builds the same table as the local file."""
    served = tmp_path / "served"
    served.mkdir()
    remote = download.PUBLIC["csqa/test"]
    shutil.copyfile(SHARED_CSQA_DEV, served / remote.name)
    assert SHARED_CSQA_DEV.stat().st_size == remote.size
    monkeypatch.setenv("LEMA_DATA_CACHE", str(tmp_path / "cache"))
    with http_server(served) as base:
        monkeypatch.setenv("LEMA_DATA_MIRROR", base)
        table = data.build_table("csqa", "test", "public", progress=False)
    assert table.equals(_shared_dev())
