"""The evaluation-only benchmarks' data layer (lema.data.benchmarks): the real files ingest
with correct gold answers, small fixture files cover each reader's conventions and errors,
the public source downloads through $LEMA_DATA_MIRROR with its checksum, and the choice and
text graders decide what they should."""

from __future__ import annotations

import functools
import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from datafiles import SHARED_BENCHMARKS
from http_files import http_server, pinned_mirror

from lema.cli import main as lema_main
from lema.data import BENCHMARKS, download
from lema.data import build as data
from lema.data.benchmarks import REGISTRY, decimal_text
from lema.errors import ConfigError, DataError
from lema.grading import extract_choice, grade_choice, grade_text, grade_typed
from lema.tables import BENCHMARK_COLUMNS

# the row counts of ../shared/data/README.md
README_ROWS = {"svamp": 1000, "asdiv": 2215, "mawps": 2065, "aqua": 254, "aime24": 30, "amc23": 40}


def _write(path: Path, rows: list[dict | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _table(name: str, path: Path) -> pl.DataFrame:
    return data.build_table(name, "test", "local", path, progress=False)


def perturbed(row: dict, other_texts: list[str]) -> str:
    """A wrong answer close to the gold one: the number plus one, the last integer of a
    fraction/ratio/time plus one, another option with a different text, another text."""
    gold, kind = row["gold"], row["answer_type"]
    if kind == "numeric":
        return decimal_text(Decimal(gold) + 1)
    if kind == "latex":
        last = list(re.finditer(r"\d+", gold))[-1]
        return gold[: last.start()] + str(int(last.group()) + 1) + gold[last.end() :]
    if kind == "choice":
        choices, at = row["choices"], "ABCDE".index(gold)
        return next("ABCDE"[j] for j in range(5) if choices[j] != choices[at])
    return next(t for t in other_texts if t.lower() != gold.lower())


def check_golds(frame: pl.DataFrame) -> None:
    """Every row's gold grades equal to itself and unequal to a perturbed value; a choice
    row's option text grades as its letter."""
    rows = frame.to_dicts()
    texts = [r["gold"] for r in rows if r["answer_type"] == "text"] + ["Nobody"]
    for row in rows:
        gold, kind, choices = row["gold"], row["answer_type"], row["choices"]
        assert grade_typed(f"The answer is {gold}.", gold, kind, choices), row["id"]
        wrong = perturbed(row, texts)
        assert not grade_typed(f"The answer is {wrong}.", gold, kind, choices), (row["id"], wrong)
        if kind == "choice":
            text = choices["ABCDE".index(gold)]
            assert grade_typed(f"The answer is {text}.", gold, kind, choices), row["id"]


# --------------------------------------------------------------------------- fixtures
def fixture_files(folder: Path) -> dict[str, Path]:
    """One small file per benchmark in its original fields, with the awkward values."""
    return {
        "svamp": _write(
            folder / "svamp.jsonl",
            [
                '{"Answer":145.0,"Question":"How big is each group?","Equation":"( 290.0 / 2.0 )",'
                '"Body":"There are 290 bananas in 2 groups.","Type":"Common-Division",'
                '"ID":"chal-777","idx":0}',
                '{"Answer":0.5,"Question":" How much is left?","Equation":"( 1.0 - 0.5 )",'
                '"Body":"Ann had 1 pie and ate 0.5 of it","ID":"chal-1","idx":1}',
                '{"Answer":1.25,"Question":"How much?","Body":"A cost 1.25","ID":"chal-2"}',
            ],
        ),
        "asdiv": _write(
            folder / "asdiv.jsonl",
            [
                {
                    "body": "Seven red apples.",
                    "question": "How many?",
                    "answer": "9 (apples)",
                    "formula": "7+2=9",
                    "idx": 0,
                },
                {"body": "B.", "question": "Q?", "answer": "14  (seats)", "idx": 1},
                {"body": "B.", "question": "Q?", "answer": "2.50 (dollars)", "idx": 2},
                {"body": "B.", "question": "Q?", "answer": "-(1/3)", "idx": 3},
                {"body": "B.", "question": "Q?", "answer": "3:30 p.m.", "idx": 4},
                {"body": "B.", "question": "Who?", "answer": "Mrs. Hilt", "idx": 5},
                {"body": "B.", "question": "Q?", "answer": "Yes", "idx": 6},
            ],  # fmt: skip
        ),
        "mawps": _write(
            folder / "mawps.jsonl",
            [
                '{"input":"Joan found 70 shells and gave some away. 27 are left. How many?",'
                '"target":43.0,"type":"singleeq","idx":0}',
                '{"input":"Split 2 pies among 3.","target":0.6666666667,"idx":1}',
                '{"input":"An exact one.","target":0.1000000000000000055511,"idx":2}',
            ],
        ),
        "aqua": _write(
            folder / "aqua.jsonl",
            [
                {
                    "question": "How long?",
                    "options": [
                        "A)5(√3 + 1)",
                        "B)6(√3 + √2)",
                        "C)7(√3 – 1)",
                        "D)8(√3 – 2)",
                        "E)None of these",
                    ],
                    "rationale": "r",
                    "correct": "A",
                },
                {
                    "question": "Price?",
                    "options": ["A)$61", "B)$65", "C)$67.40", "D)$70", "E)$78.20"],
                    "rationale": "r",
                    "correct": "C",
                },
                {
                    "question": "Speed?",
                    "options": ["A)80 kmph", "B)50 kmph", "C)120 kmph", "D)70 kmph", "E)80 kmph"],
                    "correct": "E",
                },
            ],  # fmt: skip
        ),
        "aime24": _write(
            folder / "aime24.jsonl",
            [
                {
                    "id": 60,
                    "problem": "Find $x$.",
                    "solution": "so $\\boxed{204}$",
                    "answer": "204",
                },
                {"id": 67, "problem": "Find $y$.", "solution": "s", "answer": "025"},
            ],
        ),
        "amc23": _write(
            folder / "amc23.jsonl",
            [
                '{"id":0,"problem":"How many miles?","answer":27.0,"url":"u","question":"q"}',
                '{"id":1,"problem":"What is $p$?","answer":0.5,"url":"u","question":"q"}',
            ],
        ),
    }


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return fixture_files(tmp_path / "benchmarks")


def test_fixture_files_ingest_with_their_conventions(files):
    svamp = _table("svamp", files["svamp"])
    assert tuple(svamp.columns) == BENCHMARK_COLUMNS
    assert svamp["id"].to_list() == [
        "svamp-test-chal-777",
        "svamp-test-chal-1",
        "svamp-test-chal-2",
    ]
    assert svamp["gold"].to_list() == ["145", "0.5", "1.25"]
    assert svamp["question"][1] == "Ann had 1 pie and ate 0.5 of it How much is left?"
    assert svamp["solution"].to_list() == ["( 290.0 / 2.0 )", "( 1.0 - 0.5 )", None]
    assert set(svamp["answer_type"]) == {"numeric"} and svamp["task"].unique().to_list() == [
        "svamp"
    ]

    asdiv = _table("asdiv", files["asdiv"])
    assert asdiv["gold"].to_list() == ["9", "14", "2.5", "-(1/3)", "3:30 p.m.", "Mrs. Hilt", "Yes"]
    assert asdiv["answer_type"].to_list() == ["numeric"] * 3 + ["latex"] * 2 + ["text"] * 2
    assert asdiv["question"][0] == "Seven red apples. How many?"
    assert asdiv["id"][0] == "asdiv-test-00000"

    mawps = _table("mawps", files["mawps"])
    assert mawps["gold"].to_list() == ["43", "0.6666666667", "0.1000000000000000055511"]
    assert mawps["solution"].to_list() == [None] * 3

    aqua = _table("aqua", files["aqua"])
    assert aqua["gold"].to_list() == ["A", "C", "E"]
    assert aqua["id"].to_list() == ["aqua-test-00000", "aqua-test-00001", "aqua-test-00002"]
    assert aqua["choices"][1].to_list() == ["$61", "$65", "$67.40", "$70", "$78.20"]
    assert aqua["question"][1] == (
        "Price?\nAnswer Choices: (A) $61 (B) $65 (C) $67.40 (D) $70 (E) $78.20"
    )
    assert set(aqua["answer_type"]) == {"choice"}

    aime = _table("aime24", files["aime24"])
    assert aime["gold"].to_list() == ["204", "25"] and aime["id"][1] == "aime24-test-00067"
    amc = _table("amc23", files["amc23"])
    assert amc["gold"].to_list() == ["27", "0.5"] and amc["question"][0] == "How many miles?"
    assert set(aime["answer_type"]) == set(amc["answer_type"]) == {"latex"}
    for name in BENCHMARKS:
        check_golds(_table(name, files[name]))


def test_local_paths_a_file_or_a_folder(files, tmp_path):
    folder = files["svamp"].parent
    by_file = _table("svamp", files["svamp"])
    assert by_file.equals(_table("svamp", folder))  # folder/{name}.jsonl
    qwen_layout = tmp_path / "evaluation" / "data"
    _write(qwen_layout / "svamp" / "test.jsonl", files["svamp"].read_text().splitlines())
    assert by_file.equals(_table("svamp", qwen_layout))  # folder/{name}/test.jsonl
    assert by_file.equals(_table("svamp", qwen_layout / "svamp"))  # folder/test.jsonl
    with pytest.raises(DataError, match=r"data\.local\.svamp: .*nowhere.* is not a file"):
        _table("svamp", tmp_path / "nowhere")
    assert data.build_table("svamp", "test", "local", folder, limit=1, skip=1)[
        "gold"
    ].to_list() == ["0.5"]


BAD_RECORDS = [
    ("svamp", '{"Answer":1.0,"Body":"b","ID":"x"}', r"missing field 'Question'"),
    ("svamp", '{"Answer":"ten","Body":"b","Question":"q","ID":"x"}', r"number, got 'ten'"),
    ("svamp", '{"Answer":true,"Body":"b","Question":"q","ID":"x"}', r"'Answer' must be a number"),
    ("svamp", '{"Answer":1,"Body":"b","Question":"q","ID":"no spaces"}', r"field 'ID'"),
    ("mawps", '{"input":"q","target":null,"idx":1}', r"'target' must be a number, got None"),
    ("mawps", '{"input":"  ","target":1,"idx":1}', r"field 'input' is empty"),
    ("asdiv", '{"body":"b","question":"q","answer":"(apples)","idx":1}', r"besides its unit"),
    ("aqua", '{"question":"q","options":["A)1","B)2"],"correct":"C"}', r"option letters AB"),
    ("aqua", '{"question":"q","options":["A)1","C)2"],"correct":"A"}', r"must read 'B\)<text>'"),
    ("aqua", '{"question":"q","correct":"A"}', r"missing field 'options'"),
    ("aime24", '{"id":1,"problem":"p","answer":"2.5"}', r"'answer' must be an integer"),
    ("amc23", '{"id":1,"problem":"p","answer":"\\\\frac{1}{2}"}', r"'answer' must be a number"),
    ("amc23", '{"id":1,"answer":1}', r"missing field 'problem'"),
    ("amc23", "not json", r"not valid JSON"),
]


@pytest.mark.parametrize(("name", "record", "message"), BAD_RECORDS)
def test_bad_records_name_file_and_line(name, record, message, files):
    path = files[name]
    good = path.read_text().splitlines()[0]
    _write(path, [good, record])
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}:2: .*{message}"):
        _table(name, path)


def test_bad_requests_are_config_errors(files):
    with pytest.raises(ConfigError, match=r"unknown task 'gsm9k' \(expected one of .*svamp"):
        data.build_table("gsm9k", "test", "local", files["svamp"])
    with pytest.raises(ConfigError, match=r"'svamp' has only a test split, not 'train'"):
        data.build_table("svamp", "train", "local", files["svamp"])
    with pytest.raises(ConfigError, match=r"'aqua' has no embedded slice"):
        data.build_table("aqua", "test", "embedded")
    with pytest.raises(ConfigError, match=r"data\.local\.mawps"):
        data.build_table("mawps", "test", "local", None)


def test_duplicate_ids_fail_naming_both_lines(files):
    path = files["svamp"]
    first = path.read_text().splitlines()[0]
    _write(path, [first, first])
    with pytest.raises(DataError, match=rf":2: duplicate id 'svamp-test-chal-777' .*{path.name}:1"):
        _table("svamp", path)


def test_lema_data_command_writes_a_benchmark_table(files, tmp_path, capsys):
    out = tmp_path / "data" / "raw" / "aqua" / "test.parquet"
    argv = ["data", "--task", "aqua", "--split", "test", "--source", "local"]
    assert lema_main([*argv, "--local", str(files["aqua"]), "--out", str(out)]) == 0
    table = data.read_raw(out)
    assert tuple(table.columns) == BENCHMARK_COLUMNS and table.height == 3
    assert table.equals(_table("aqua", files["aqua"]))
    ops = json.dumps({"data_local": {"aqua": str(files["aqua"])}})  # what the rules pass
    out2 = tmp_path / "again.parquet"
    assert lema_main([*argv, "--operational", ops, "--out", str(out2)]) == 0
    assert out2.read_bytes() == out.read_bytes()  # deterministic
    _write(files["aqua"], ['{"question":"q","options":["A)1","B)2"],"correct":"Z"}'])
    capsys.readouterr()
    assert lema_main([*argv, "--local", str(files["aqua"]), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"lema data: error: {files['aqua']}:1: field 'correct'")
    assert len(err.splitlines()) == 1
    assert out.read_bytes() == out2.read_bytes()  # the old table is left as it was


# --------------------------------------------------------------------------- downloads


def test_public_source_downloads_through_the_mirror(files, tmp_path, monkeypatch):
    """Right bytes from $LEMA_DATA_MIRROR -> the same table as the local file, cached;
    wrong bytes -> a checksum error and nothing cached."""
    payload = files["mawps"].read_bytes()
    pinned = download.PUBLIC["mawps/test"]
    assert pinned.urls[0].endswith(
        f"/{download.QWEN_MATH_REVISION}/evaluation/data/mawps/test.jsonl"
    )
    with pinned_mirror(monkeypatch, tmp_path, "mawps/test", payload) as (served, cache, name):
        table = data.build_table("mawps", "test", "public", progress=False)
        assert table.equals(_table("mawps", files["mawps"]))
        assert (cache / name).read_bytes() == payload
        (cache / name).unlink()
        served.write_bytes(payload.replace(b"43.0", b"44.0"))
        with pytest.raises(DataError, match=r"could not download .*checksum mismatch"):
            data.build_table("mawps", "test", "public", progress=False)
    assert not (cache / name).exists()


def test_every_benchmark_is_pinned_at_one_commit():
    for name in BENCHMARKS:
        remote = REGISTRY[name].remote
        assert remote.urls == (
            "https://raw.githubusercontent.com/QwenLM/Qwen2.5-Math/"
            f"{download.QWEN_MATH_REVISION}/evaluation/data/{name}/test.jsonl",
        )
        assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256) and remote.size
        assert REGISTRY[name].rows == README_ROWS[name]
    assert re.fullmatch(r"[0-9a-f]{40}", download.QWEN_MATH_REVISION)


# --------------------------------------------------------------------------- real files
@functools.cache
def _shared_table(name: str) -> pl.DataFrame:
    return _table(name, SHARED_BENCHMARKS)


@pytest.mark.shared
@pytest.mark.parametrize("name", BENCHMARKS)
def test_real_file_ingests_with_correct_golds(name):
    table = _shared_table(name)
    assert table.height == README_ROWS[name]
    assert table["id"].n_unique() == table.height
    assert table["gold"].null_count() == 0 and table["question"].null_count() == 0
    check_golds(table)


@pytest.mark.shared
def test_real_files_known_rows():
    def gold(name: str, ident: str) -> str:
        return _shared_table(name).filter(pl.col("id") == ident)["gold"].item()

    assert gold("svamp", "svamp-test-chal-777") == "145"
    assert gold("asdiv", "asdiv-test-00000") == "9"  # "9 (apples)"
    assert gold("asdiv", "asdiv-test-01313") == "-(1/3)"
    assert gold("asdiv", "asdiv-test-00029") == "Mrs. Hilt"
    assert gold("mawps", "mawps-test-00000") == "43"  # 43.0
    assert gold("amc23", "amc23-test-00000") == "27"  # 27.0
    assert gold("aqua", "aqua-test-00000") == "A"
    golds = _shared_table("mawps")["gold"].to_list()
    assert "0.5" in golds and "0.6666666667" in golds and not any(g.endswith(".0") for g in golds)
    aime = _shared_table("aime24")
    assert "25" in aime["gold"].to_list()  # the file's "025"
    asdiv = _shared_table("asdiv")
    assert asdiv["answer_type"].value_counts().sort("answer_type").rows() == [
        ("latex", 69),
        ("numeric", 2084),
        ("text", 62),
    ]
    assert not asdiv["gold"].str.contains(r"\(\w+\)$").any()  # every unit is gone


@pytest.mark.shared
def test_aqua_rationales_state_their_letter():
    """AQuA's gold rationales end in every way of stating a choice ("Answer : A", "Option B",
    "ANS:D", "D is the correct choice", "answer.A"): the choice grader reads the gold letter
    in all but the 18 that state none, and never a wrong one."""
    rows = _shared_table("aqua").to_dicts()
    picked = [extract_choice(r["solution"], r["choices"]) for r in rows]
    assert not [r["id"] for r, p in zip(rows, picked, strict=True) if p not in (None, r["gold"])]
    assert sum(p == r["gold"] for r, p in zip(rows, picked, strict=True)) >= 236


@pytest.mark.shared
def test_shared_copies_match_the_pinned_checksums(tmp_path, monkeypatch):
    """Served under their cache names through $LEMA_DATA_MIRROR, the shared copies pass the
    pinned checksums, and the public source builds the same tables as the local files."""
    served = tmp_path / "served"
    served.mkdir()
    for name in BENCHMARKS:
        shutil.copyfile(SHARED_BENCHMARKS / f"{name}.jsonl", served / REGISTRY[name].remote.name)
    monkeypatch.setenv("LEMA_DATA_CACHE", str(tmp_path / "cache"))
    with http_server(served) as base:
        monkeypatch.setenv("LEMA_DATA_MIRROR", base)
        for name in BENCHMARKS:
            table = data.build_table(name, "test", "public", progress=False)
            assert table.equals(_shared_table(name)), name


# --------------------------------------------------------------------------- graders
OPTIONS = ["5(√3 + 1)", "6(√3 + √2)", "7(√3 – 1)", "8(√3 – 2)", "None of these"]


@pytest.mark.parametrize(
    ("completion", "letter"),
    [
        ("Step 1: ... The answer is (C).", "C"),
        ("C)", "C"),
        ("So it takes 7(√3 – 1) minutes.\n\\boxed{C}", "C"),
        ("The answer is $\\boxed{\\text{(C)}}$.", "C"),
        ("the answer is C: 7(√3 – 1)", "C"),
        ("the answer is A: 5(√3 + 1)", "A"),
        ("Therefore the answer is: **C**", "C"),
        ("Answer: (c)", "C"),
        ("The correct option is C.", "C"),
        ("Step 2: so\n(C) 7(√3 – 1)", "C"),
        ("The answer is 7(√3 - 1).", "C"),  # the option text, with an ASCII dash
        ("The answer is None of these.", "E"),
        ("None of these", "E"),
        ("The answer is (C), not (D).", "C"),
        ("Answer : C", "C"),
        ("so x = 7(√3 – 1)\nOption C", "C"),
        ("= 10 ANS:C", "C"),
        ("The Answer is, C.", "C"),
        ("Hence (C) is correct answer.", "C"),
        ("C is the correct choice", "C"),
        ("The answer is (C).\nTo answer this kind of question, first ...", "C"),
        ("Each answer choice: (A) fails, (B) fails.\nThe answer is C.", "C"),
    ],
)
def test_choice_grader_reads_the_letter(completion, letter):
    assert extract_choice(completion, OPTIONS) == letter
    assert grade_choice(completion, letter, OPTIONS)
    other = "D" if letter != "D" else "A"
    assert not grade_choice(completion, other, OPTIONS)


@pytest.mark.parametrize(
    "completion",
    [
        "A car is driven towards a tower.",  # a sentence, not an answer
        "The answer is 9.",  # a number that is no option
        "The answer is F.",  # past the last option
        "the answer is a lot",
        "",
        None,
        "The answer is 7(√3 + 1).",  # close to an option, but not one
        "Question: which is it?\nAnswer Choices: (A) 1 (B) 2",  # the question's own list
        "Let's go through each answer choice:",
    ],
)
def test_choice_grader_finds_no_choice(completion):
    assert extract_choice(completion, OPTIONS) is None
    assert not any(grade_choice(completion, letter, OPTIONS) for letter in "ABCDE")


def test_choice_grader_options_with_the_same_text_and_values():
    options = ["80 kmph", "50 kmph", "120 kmph", "70 kmph", "80 kmph"]
    assert grade_choice("The answer is (A).", "E", options)  # the same text as E
    assert grade_choice("The answer is 80 kmph.", "E", options)
    assert not grade_choice("The answer is (B).", "E", options)
    prices = ["$61", "$65", "$67.40", "$70", "$78.20"]
    assert grade_choice("The answer is $67.4.", "C", prices)
    assert not grade_choice("The answer is $67.", "C", prices)
    assert grade_choice("The answer is (B)", "B")  # without options: the letter alone
    assert not grade_choice("The answer is 65", "B")


@pytest.mark.parametrize(
    ("completion", "gold", "expected"),
    [
        ("The answer is Mrs. Hilt.", "Mrs. Hilt", True),
        ("The answer is mrs hilt", "Mrs. Hilt", True),
        ("So the answer is: **Yes**.", "Yes", True),
        ("The answer is yes.", "No", False),
        ("The answer is the 60th caller.", "The 60th caller.", True),
        ("The answer is Cesar's toothbrush, since it is longer.", "Cesar's toothbrush", True),
        ("The answer is 11:55 p.m. on 24 December 2014.", "11:55 p.m. on 24 December 2014.", True),
        ("The answer is 11:55 p.m. on 25 December 2014.", "11:55 p.m. on 24 December 2014.", False),
        ("The answer is 6.", "6th", False),
        ("The answer is Mr. Hilt.", "Mrs. Hilt", False),
        ("", "Yes", False),
    ],
)
def test_text_grader(completion, gold, expected):
    assert grade_text(completion, gold) is expected
    assert grade_typed(completion, gold, "text") is expected


def test_grade_typed_routes_by_answer_type():
    assert grade_typed("The answer is 0.5.", "0.5", "numeric")
    assert grade_typed("The answer is $\\frac{1}{2}$.", "0.5", "latex")
    assert grade_typed("The answer is $\\boxed{-\\frac{1}{3}}$.", "-(1/3)", "latex")
    assert not grade_typed("The answer is 1.", "0.5", "numeric")
    with pytest.raises(ValueError, match="unknown answer type 'letters'"):
        grade_typed("The answer is A.", "A", "letters")
