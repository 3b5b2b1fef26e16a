"""Raw-data ingest (lema/data/, rules/data.smk): real shared data, ids, limits and subsets,
malformed inputs, per-problem MATH folders and tarballs, the download path against a real
local HTTP server, and the Snakemake build of data/raw/{task}/{split}.parquet."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import polars as pl
import pytest
from http_files import http_server

from lema import tables
from lema.cli import main as lema_main
from lema.data import build as data
from lema.data import download, sources, subjects
from lema.errors import ConfigError, DataError
from lema.grading import gold_answer
from lema.grading.extract import last_boxed
from lema.io import sha256_file
from lema.workflow import params

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LEMA_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()
COUNTS = {
    ("gsm8k", "train"): 7473,
    ("gsm8k", "test"): 1319,
    ("math", "train"): 4589,
    ("math", "test"): 3072,
}

# skips without ../shared/data, fails without it under CI=true (tests/conftest.py)
needs_shared = pytest.mark.shared


@functools.cache
def _shared_table(task: str, split: str) -> pl.DataFrame:
    return data.build_table(task, split, "local", SHARED / task)


def _shared_rows(task: str, split: str, n: int) -> list[dict]:
    with open(SHARED / task / f"{split}.jsonl") as fh:
        return [json.loads(next(fh)) for _ in range(n)]


# --------------------------------------------------------------------------- real data


@needs_shared
@pytest.mark.parametrize(("task", "split"), list(COUNTS))
def test_shared_data_ingests_completely(task, split):
    frame = _shared_table(task, split)
    assert frame.height == COUNTS[task, split]
    assert frame.schema == pl.Schema(tables.RAW_SCHEMA)
    assert frame["id"].n_unique() == frame.height
    assert frame["id"].str.starts_with(f"{task}-{split}-").all()
    assert (frame["task"] == task).all() and (frame["split"] == split).all()
    answers = frame["gold"].drop_nulls()
    assert answers.str.strip_chars().str.len_chars().min() > 0
    # MATH train has two rows whose solution ends in an empty \\boxed{} (null answer)
    assert frame["gold"].null_count() == (2 if (task, split) == ("math", "train") else 0)
    assert frame["question"].null_count() == 0 and frame["solution"].null_count() == 0
    if task == "gsm8k":
        assert frame["level"].null_count() == frame.height
        assert frame["subject"].null_count() == frame.height
        assert not frame["gold"].str.contains(",").any()
        assert frame["id"][0] == f"gsm8k-{split}-00000"
    else:
        assert set(frame["level"].drop_nulls().unique()) <= {1, 2, 3, 4, 5}
        assert set(frame["subject"].unique()) == {
            "Algebra",
            "Counting & Probability",
            "Number Theory",
            "Prealgebra",
        }


@needs_shared
@pytest.mark.parametrize("task", ["gsm8k", "math"])
def test_ids_are_stable_across_runs(task, tmp_path):
    first = data.build_table(task, "test", "local", SHARED / task)
    again = data.build_table(task, "test", "local", SHARED / task)
    assert first.equals(again)
    # through the command line and parquet as well
    out = tmp_path / "t.parquet"
    args = [
        "data",
        "--task",
        task,
        "--split",
        "test",
        "--source",
        "local",
        "--local",
        str(SHARED / task),
        "--out",
        str(out),
    ]
    assert lema_main(args) == 0
    assert data.read_raw(out).equals(first)


@needs_shared
def test_known_gold_answers():
    gsm = _shared_table("gsm8k", "train")
    assert gsm.row(0, named=True)["gold"] == "72"
    math = _shared_table("math", "train")
    assert math.row(0, named=True)["gold"] == r"\frac{25}{4}"


# --------------------------------------------------------------------------- answers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"so $\boxed{5}$.", "5"),
        (r"$\boxed{\frac{1}{2}}$", r"\frac{1}{2}"),
        (r"first \boxed{1} then \boxed{\sqrt{2}}", r"\sqrt{2}"),
        (r"\fbox{7}", "7"),
        (r"\boxed{\{1,2\}}", r"\{1,2\}"),
        (r"\boxed{\left\{ x \right.}", r"\left\{ x \right."),
        (r"The answer is $\boxed 5$.", "5"),
        (r"\boxed {x^{2}}", "x^{2}"),
        (r"\boxed{1", None),
        (r"so $\boxed{}$", ""),
        ("no box here", None),
        (r"\boxedx", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\n#### 72", "72"),
        ("#### 1,234,567", "1234567"),
        ("x #### 1 #### -3.5 ", "-3.5"),
        ("no marker", None),
        ("####   ", None),
    ],
)
def test_gsm8k_answer(text, expected):
    assert gold_answer(text, "gsm8k") == expected


# --------------------------------------------------------------------------- limits, subsets


def _write_jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _math(problem="What is 1+1?", level="Level 1", type_="Algebra", answer="2") -> dict:
    return {
        "problem": problem,
        "level": level,
        "type": type_,
        "solution": f"It is $\\boxed{{{answer}}}$.",
    }


@needs_shared
def test_limit_and_subset_are_first_rows_of_the_filtered_table():
    full = _shared_table("math", "train")
    expected = full.filter(
        pl.col("subject").is_in(["Algebra", "Number Theory"]) & pl.col("level").is_in([1, 2])
    ).head(25)
    got = data.build_table(
        "math",
        "train",
        "local",
        SHARED / "math",
        limit=25,
        math_subjects=["algebra", "number theory"],
        math_levels=[1, 2],
    )
    assert got.equals(expected)
    assert got.height == 25
    gsm = data.build_table("gsm8k", "test", "local", SHARED / "gsm8k", limit=3)
    assert gsm["id"].to_list() == ["gsm8k-test-00000", "gsm8k-test-00001", "gsm8k-test-00002"]


def test_subjects_are_validated():
    assert subjects.normalize_subjects(["prealgebra", "COUNTING_AND_PROBABILITY"]) == [
        "Prealgebra",
        "Counting & Probability",
    ]
    with pytest.raises(ConfigError, match=r"data\.math_subjects.*'Calculus'.*known: Algebra"):
        subjects.normalize_subjects(["Calculus"])


def test_level_question_mark_is_null_and_levels_filter_drops_it(tmp_path):
    src = tmp_path / "m"
    _write_jsonl(src / "train.jsonl", [_math(level="Level ?"), _math("Q2", level="Level 3")])
    frame = data.build_table("math", "train", "local", src)
    assert frame["level"].to_list() == [None, 3]
    assert data.build_table("math", "train", "local", src, math_levels=[3]).height == 1


def test_empty_box_keeps_the_row_with_a_null_answer_and_warns(tmp_path, capsys):
    path = _write_jsonl(tmp_path / "m" / "train.jsonl", [_math(), _math("Q2", answer="")])
    frame = data.build_table("math", "train", "local", tmp_path / "m")
    assert frame["gold"].to_list() == ["2", None]
    assert f"{path}:2: empty \\boxed{{}}; answer left null" in capsys.readouterr().err


# --------------------------------------------------------------------------- malformed input


GOOD_GSM = {"question": "What is 2+2?", "answer": "2+2=4\n#### 4"}


@pytest.mark.parametrize(
    ("task", "bad", "message"),
    [
        ("gsm8k", '{"question": "x", "answer": ', "not valid JSON"),
        ("gsm8k", "[1, 2]", "expected a JSON object, got list"),
        ("gsm8k", {"question": "x"}, "missing field 'answer'"),
        ("gsm8k", {"question": 5, "answer": "#### 5"}, "field 'question' must be a string"),
        ("gsm8k", {"question": "x", "answer": "4"}, "no final answer after '####'"),
        ("gsm8k", {"question": " ", "answer": "#### 4"}, "field 'question' is empty"),
        (
            "math",
            {"problem": "x", "level": "Level 1", "type": "Algebra", "solution": "4"},
            r"no complete \\boxed",
        ),
        (
            "math",
            {"problem": "x", "level": "Level 1", "type": "Algebra", "solution": r"\boxed{4"},
            r"no complete \\boxed",
        ),
        (
            "math",
            {"problem": "x", "level": "Hard", "type": "Algebra", "solution": r"\boxed{4}"},
            "field 'level' must look like 'Level 3'",
        ),
        (
            "math",
            {"problem": "x", "type": "Algebra", "solution": r"\boxed{4}"},
            "missing field 'level'",
        ),
        (
            "math",
            {"problem": "x", "level": "Level 1", "type": ["Algebra"], "solution": r"\boxed{4}"},
            "field 'type' must be a string",
        ),
    ],
)
def test_malformed_row_names_file_and_line(tmp_path, task, bad, message):
    good = GOOD_GSM if task == "gsm8k" else _math()
    good2 = dict(good, **({"question": "Q2"} if task == "gsm8k" else {"problem": "Q2"}))
    path = _write_jsonl(tmp_path / task / "train.jsonl", [good, "", good2, bad])  # bad: line 4
    with pytest.raises(DataError, match=message) as info:
        data.build_table(task, "train", "local", tmp_path / task)
    text = str(info.value)
    assert text.startswith(f"{path}:4: ") and "\n" not in text


def test_malformed_row_through_the_command(tmp_path, capsys):
    path = _write_jsonl(tmp_path / "g" / "test.jsonl", [GOOD_GSM, {"question": "x", "answer": "9"}])
    rc = lema_main(
        [
            "data",
            "--task",
            "gsm8k",
            "--split",
            "test",
            "--source",
            "local",
            "--local",
            str(tmp_path / "g"),
            "--out",
            str(tmp_path / "o.parquet"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 1 and not (tmp_path / "o.parquet").exists()
    assert err == f"lema data: error: {path}:2: field 'answer' has no final answer after '####'"


def test_duplicate_math_rows_fail_naming_both_lines(tmp_path):
    path = _write_jsonl(tmp_path / "m" / "test.jsonl", [_math(), _math("other"), _math()])
    with pytest.raises(DataError, match=rf"{path}:3: duplicate id .* \(first at {path}:1\)"):
        data.build_table("math", "test", "local", tmp_path / "m")


def test_missing_local_paths_fail_clearly(tmp_path):
    with pytest.raises(DataError, match=r"train\.jsonl: file not found"):
        data.build_table("gsm8k", "train", "local", tmp_path)
    with pytest.raises(DataError, match=r"data\.local\.math: .* has neither train\.jsonl"):
        data.build_table("math", "train", "local", tmp_path)
    with pytest.raises(DataError, match=r"data\.local\.gsm8k: .*nope does not exist"):
        data.build_table("gsm8k", "train", "local", tmp_path / "nope")


def test_gsm8k_split_template_path(tmp_path):
    _write_jsonl(tmp_path / "gsm-test-v1.jsonl", [GOOD_GSM])
    frame = data.build_table("gsm8k", "test", "local", str(tmp_path / "gsm-{split}-v1.jsonl"))
    assert frame.row(0, named=True)["gold"] == "4"


# --------------------------------------------------------------------------- per-problem MATH


def _math_tree(root: Path, rows_by_subject: dict[str, list[dict]], split: str = "train") -> Path:
    for folder, rows in rows_by_subject.items():
        for n, row in rows:
            p = root / "MATH" / split / folder / f"{n}.json"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(row, indent=4))
    return root


@pytest.fixture
def math_tree(tmp_path):
    if (SHARED / "math" / "train.jsonl").is_file():
        rows = _shared_rows("math", "train", 4)
    else:
        rows = [_math(f"P{i}", answer=str(i)) for i in range(4)]
    nt = [dict(r, type="Number Theory") for r in rows[2:]]
    return _math_tree(
        tmp_path,
        {"algebra": [(10, rows[0]), (9, rows[1])], "number_theory": [(3, nt[0]), (100, nt[1])]},
    ), rows


def test_math_per_problem_directory(math_tree):
    root, rows = math_tree
    for local in (root, root / "MATH"):  # the tarball's parent folder or MATH/ itself
        frame = data.build_table("math", "train", "local", local)
        assert frame["id"].to_list() == [
            "math-train-algebra-9",
            "math-train-algebra-10",
            "math-train-number_theory-3",
            "math-train-number_theory-100",
        ]
        assert frame["question"].to_list()[:2] == [rows[1]["problem"], rows[0]["problem"]]
        assert frame["subject"].to_list() == ["Algebra"] * 2 + ["Number Theory"] * 2
        assert frame["gold"].to_list()[0] == last_boxed(rows[1]["solution"])
    assert data.build_table(
        "math", "train", "local", root, math_subjects=["Number Theory"], limit=1
    )["id"].to_list() == ["math-train-number_theory-3"]


def test_math_per_problem_errors_name_the_file(math_tree):
    root, _ = math_tree
    bad = root / "MATH" / "train" / "algebra" / "9.json"
    bad.write_text('{\n  "problem": "x",\n  "level": \n}')
    with pytest.raises(DataError, match=rf"^{bad}:4: not valid JSON"):
        data.build_table("math", "train", "local", root)
    bad.write_text(json.dumps({"problem": "x", "level": "Level 1", "type": "Algebra"}))
    with pytest.raises(DataError, match=rf"^{bad}: missing field 'solution'"):
        data.build_table("math", "train", "local", root)
    with pytest.raises(DataError, match=r"no <subject>/<n>\.json problem files"):
        (root / "MATH" / "test").mkdir()
        data.build_table("math", "test", "local", root)


def test_math_tarball_matches_directory(math_tree, tmp_path):
    root, _ = math_tree
    tar_path = tmp_path / "MATH.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(root / "MATH", arcname="MATH")
    from_tar = data.build_table("math", "train", "local", tar_path)
    from_dir = data.build_table("math", "train", "local", root)
    assert from_tar.equals(from_dir)
    with pytest.raises(DataError, match=r"no test/<subject>/<n>\.json files"):
        data.build_table("math", "test", "local", tar_path)


def test_math_jsonl_unique_id_matches_directory_ids(tmp_path):
    row = dict(_math(), unique_id="test/precalculus/807.json")
    _write_jsonl(tmp_path / "m" / "test.jsonl", [row, _math("other")])
    ids = data.build_table("math", "test", "local", tmp_path / "m")["id"].to_list()
    assert ids[0] == "math-test-precalculus-807"
    digest = hashlib.sha256(("other\0" + _math()["solution"]).encode()).hexdigest()[:12]
    assert ids[1] == f"math-test-algebra-{digest}"


# --------------------------------------------------------------------------- downloads


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock"))


@needs_shared
def test_download_of_the_pinned_gsm8k_files(tmp_path, monkeypatch):
    """The shared files are byte-identical to the pinned upstream ones: served over HTTP,
    they pass the checksums written in lema.data.download.PUBLIC, and the public source builds."""
    cache = tmp_path / "cache"
    with http_server(SHARED) as base:
        for split in ("train", "test"):
            pinned = download.PUBLIC[f"gsm8k/{split}"]
            remote = download.Remote(
                pinned.name, (f"{base}/gsm8k/{split}.jsonl",), pinned.sha256, pinned.size
            )
            monkeypatch.setitem(download.PUBLIC, f"gsm8k/{split}", remote)
            path = download.fetch(remote, cache, progress=False)
            assert path == cache / pinned.name and path.stat().st_size == pinned.size
        monkeypatch.setenv("LEMA_DATA_CACHE", str(cache))
        frame = data.build_table("gsm8k", "test", "public", progress=False)
    assert frame.equals(_shared_table("gsm8k", "test"))
    pinned_names = sorted(download.PUBLIC[f"gsm8k/{s}"].name for s in ("train", "test"))
    assert _leftovers(cache) == pinned_names
    # the cache answers without the server
    assert download.fetch(download.PUBLIC["gsm8k/test"], cache, progress=False).is_file()


def test_download_checksum_mismatch_server_down_and_mirrors(tmp_path):
    served = tmp_path / "served"
    payload = b'{"question": "q", "answer": "#### 1"}\n'
    _write_jsonl(served / "f.jsonl", [payload.decode().strip()])
    good_sha = hashlib.sha256(payload).hexdigest()
    cache = tmp_path / "cache"
    with http_server(served) as base:
        bad = download.Remote("f.jsonl", (f"{base}/f.jsonl",), "0" * 64)
        with pytest.raises(
            DataError,
            match=r"could not download f\.jsonl: .*f\.jsonl: "
            rf"checksum mismatch \(sha256 {good_sha}, expected 0{{64}}\)",
        ):
            download.fetch(bad, cache, progress=False)
        assert _leftovers(cache) == []  # nothing partial or unverified is left behind
        missing = download.Remote("f.jsonl", (f"{base}/nope.jsonl",), good_sha)
        with pytest.raises(DataError, match=r"nope\.jsonl: HTTP 404"):
            download.fetch(missing, cache, progress=False)
        mirrored = download.Remote("f.jsonl", (f"{base}/nope.jsonl", f"{base}/f.jsonl"), good_sha)
        path = download.fetch(mirrored, cache, progress=True)
        assert path.read_bytes() == payload
        path.write_bytes(b"corrupted")  # a damaged cache entry is downloaded again
        assert download.fetch(mirrored, cache, progress=False).read_bytes() == payload
    down = download.Remote("g.jsonl", (f"http://127.0.0.1:{_closed_port()}/g.jsonl",), good_sha)
    with pytest.raises(
        DataError,
        match=r"could not download g\.jsonl: .*network error .*"
        r"data\.source: local",
    ):
        download.fetch(down, cache, progress=False, timeout=5)
    assert _leftovers(cache) == ["f.jsonl"]


def test_public_math_reads_the_downloaded_tarball(math_tree, tmp_path, monkeypatch):
    root, _ = math_tree
    served = tmp_path / "served"
    served.mkdir()
    with tarfile.open(served / "MATH.tar", "w") as tar:
        tar.add(root / "MATH", arcname="MATH")
    sha = sha256_file(served / "MATH.tar")
    with http_server(served) as base:
        remote = download.Remote("MATH.tar", (f"{base}/MATH.tar",), sha)
        monkeypatch.setitem(download.PUBLIC, "math", remote)
        monkeypatch.setenv("LEMA_DATA_CACHE", str(tmp_path / "cache"))
        frame = data.build_table("math", "train", "public", progress=False)
    assert frame.equals(data.build_table("math", "train", "local", root))


def test_cache_dir_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("LEMA_DATA_CACHE", str(tmp_path / "c"))
    assert download.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("LEMA_DATA_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert download.cache_dir() == tmp_path / "x" / "lema" / "downloads"


def test_read_raw_checks_columns(tmp_path):
    pl.DataFrame({"id": ["a"]}).write_parquet(tmp_path / "x.parquet")
    with pytest.raises(DataError, match="differ from the raw schema"):
        data.read_raw(tmp_path / "x.parquet")
    with pytest.raises(DataError, match="file not found"):
        data.read_raw(tmp_path / "missing.parquet")


def test_read_raw_reads_a_table_of_the_previous_version(tmp_path):
    """Raw tables written before the gold answer was `gold` (column `answer`) still read."""
    new = data.build_table("gsm8k", "test", "embedded", limit=3)
    new.rename({"gold": "answer"}).write_parquet(tmp_path / "old.parquet")
    assert data.read_raw(tmp_path / "old.parquet").equals(new)


# --------------------------------------------------------------------------- snakemake


RAW_TARGETS = [f"data/raw/{task}/{split}.parquet" for task, split in COUNTS]


def _snakemake(
    workdir: Path, *args: str, targets: list[str] | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Snakemake on the raw-data targets (other stages' inputs play no part here)."""
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, **(env or {}))
    env["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"
    exe = shutil.which("snakemake", path=env["PATH"])
    assert exe, "snakemake is not installed"
    return subprocess.run(
        [
            exe,
            "--directory",
            str(workdir),
            "-s",
            str(ROOT / "Snakefile"),
            "--configfile",
            str(ROOT / "config.yaml"),
            *args,
            "--",
            *(targets or RAW_TARGETS),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_snakemake_dry_run_over_config_yaml(tmp_path):
    proc = _snakemake(tmp_path, "-n")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    out = proc.stdout + proc.stderr
    for task, split in COUNTS:
        assert f"data/raw/{task}/{split}.parquet" in out


@needs_shared
def test_snakemake_builds_raw_tables_from_shared_data(tmp_path):
    local = json.dumps(
        {"source": "local", "local": {"gsm8k": str(SHARED / "gsm8k"), "math": str(SHARED / "math")}}
    )
    proc = _snakemake(tmp_path, "--cores", "2", "--config", f"data={local}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for (task, split), n in COUNTS.items():
        frame = data.read_raw(tmp_path / "data" / "raw" / task / f"{split}.parquet")
        assert frame.height == n
        assert "wrote" in (tmp_path / "logs" / "data" / task / f"{split}.log").read_text()
    # a --configfile overlay changing the train limit and the subjects reruns only what changed
    overlay = tmp_path / "small.yaml"
    overlay.write_text(
        f"data:\n  source: local\n  local: {{gsm8k: {SHARED / 'gsm8k'}, math: {SHARED / 'math'}}}\n"
        "  limit: {train: 5}\n  math_subjects: [prealgebra]\n"
    )
    untouched = (tmp_path / "data/raw/gsm8k/test.parquet").stat().st_mtime_ns
    proc = _snakemake(
        tmp_path, "--cores", "2", "--configfile", str(ROOT / "config.yaml"), str(overlay)
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    raw = tmp_path / "data" / "raw"
    assert data.read_raw(raw / "gsm8k" / "train.parquet").height == 5
    assert data.read_raw(raw / "gsm8k" / "test.parquet").height == COUNTS["gsm8k", "test"]
    math_test = data.read_raw(raw / "math" / "test.parquet")
    assert set(math_test["subject"]) == {"Prealgebra"} and math_test.height == 871
    assert data.read_raw(raw / "math" / "train.parquet").height == 5
    assert (raw / "gsm8k" / "test.parquet").stat().st_mtime_ns == untouched
    proc = _snakemake(tmp_path, "-n", "--configfile", str(ROOT / "config.yaml"), str(overlay))
    assert "Nothing to be done" in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- embedded slice

EMBEDDED_ROWS = {("gsm8k", "train"): 320, ("gsm8k", "test"): 60, ("math", "train"): 320}
EMBEDDED_ROWS["math", "test"] = 60


@pytest.mark.parametrize(("task", "split"), list(EMBEDDED_ROWS))
def test_embedded_slice_builds_real_rows_with_their_full_data_ids(task, split):
    frame = data.build_table(task, split, "embedded")
    assert frame.height == EMBEDDED_ROWS[task, split]
    assert frame["id"].n_unique() == frame.height and frame["gold"].null_count() == 0
    if task == "gsm8k":  # the first lines of the original file: the same index ids
        assert frame["id"].to_list()[:2] == [f"gsm8k-{split}-00000", f"gsm8k-{split}-00001"]
    else:  # the four subjects, taken in turn
        assert frame["subject"].head(4).to_list() == [
            "Algebra",
            "Counting & Probability",
            "Number Theory",
            "Prealgebra",
        ]
    folder = sources.EMBEDDED_DIR / task
    assert "MIT License" in (folder / "LICENSE").read_text()
    assert f"{task}/{split}.jsonl" in (sources.EMBEDDED_DIR / "README.md").read_text()


@needs_shared
@pytest.mark.parametrize(("task", "split"), list(EMBEDDED_ROWS))
def test_embedded_rows_are_rows_of_the_full_data(task, split):
    full = _shared_table(task, split)
    embedded = data.build_table(task, split, "embedded")
    joined = embedded.join(full, on="id", how="left", suffix="_full")
    assert joined["question_full"].null_count() == 0  # every id exists in the full split
    assert joined["question"].to_list() == joined["question_full"].to_list()
    assert joined["gold"].to_list() == joined["gold_full"].to_list()


def test_skip_passes_over_rows_before_the_limit():
    first = data.build_table("gsm8k", "train", "embedded", limit=24)
    after = data.build_table("gsm8k", "train", "embedded", skip=24, limit=10)
    assert after["id"].to_list() == [f"gsm8k-train-{i:05d}" for i in range(24, 34)]
    assert not set(first["id"]) & set(after["id"])
    algebra = data.build_table(
        "math", "train", "embedded", skip=3, limit=2, math_subjects=["algebra"]
    )
    every = data.build_table("math", "train", "embedded", math_subjects=["algebra"])
    assert algebra["id"].to_list() == every["id"].to_list()[3:5]  # skip counts after filters
    with pytest.raises(ConfigError, match="--skip must be at least 0"):
        data.build_table("gsm8k", "train", "embedded", skip=-1)


def test_rule_source_args_never_drop_an_empty_value():
    """The bug: `--local {params.local:q}` with an empty value vanished from the shell
    command (`--local  --limit 12`), so argparse stopped. Options are now a list."""
    config = {"data": {"source": "public", "local": {"gsm8k": None, "math": None}}}
    assert params.rule_source_args(config, "gsm8k") == ["--source", "public"]
    config["data"]["source"] = "embedded"
    assert params.rule_source_args(config, "math") == ["--source", "embedded"]
    config["data"] = {"source": "local", "local": {"gsm8k": "/d/gsm8k", "math": None}}
    # the folder is a place: it travels in --operational, never in the params
    assert params.rule_source_args(config, "gsm8k") == ["--source", "local"]
    with pytest.raises(ConfigError, match=r"'data.local.math': a path is required"):
        params.rule_source_args(config, "math")


def test_snakemake_builds_raw_tables_from_the_embedded_slice(tmp_path):
    config = json.dumps({"source": "embedded", "limit": {"train": 7, "test": 5}})
    proc = _snakemake(tmp_path, "--cores", "2", "--config", f"data={config}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for task, split in COUNTS:
        frame = data.read_raw(tmp_path / "data" / "raw" / task / f"{split}.parquet")
        assert frame.height == (7 if split == "train" else 5)
    proc = _snakemake(tmp_path, "-n", "--config", f"data={config}")
    assert "Nothing to be done" in proc.stdout + proc.stderr


GSM8K_TARGETS = [f"data/raw/gsm8k/{s}.parquet" for s in ("train", "test")]


def _public_rule(work: Path, served: Path, cache: Path) -> tuple[subprocess.CompletedProcess, str]:
    """The GSM8K raw-data rules with data.source: public, downloading from a local HTTP
    server serving ``served`` (LEMA_DATA_MIRROR) into ``cache``; (result, server URL)."""
    config = json.dumps({"source": "public", "limit": {"train": 3, "test": 3}})
    with http_server(served) as base:
        env = {"LEMA_DATA_MIRROR": base, "LEMA_DATA_CACHE": str(cache)}
        proc = _snakemake(
            work, "--cores", "1", "--config", f"data={config}", "tasks=[gsm8k]",
            targets=GSM8K_TARGETS, env=env,
        )  # fmt: skip
    return proc, base


def test_snakemake_public_source_downloads_through_the_rule(tmp_path):
    """The raw-data rule with data.source: public, against a local HTTP server standing in for
    the upstream (LEMA_DATA_MIRROR): the files it serves here fail the pinned checksums, so
    the job must reach the download and fail there, naming the checksum, never argparse."""
    served = tmp_path / "served"
    for split in ("train", "test"):
        name = download.PUBLIC[f"gsm8k/{split}"].name
        _write_jsonl(served / name, [{"question": "q", "answer": "#### 1"}])
    work = tmp_path / "work"
    proc, base = _public_rule(work, served, tmp_path / "cache")
    assert proc.returncode != 0
    logs = sorted((work / "logs" / "data" / "gsm8k").glob("*.log"))
    assert logs, proc.stderr[-3000:]  # the first job fails, so Snakemake may start no other
    for log in logs:
        text = log.read_text()
        assert "expected one argument" not in text and "usage:" not in text, text
        name = download.PUBLIC[f"gsm8k/{log.stem}"].name
        assert f"{base}/{name}: checksum mismatch" in text, text


@needs_shared
def test_snakemake_public_source_builds_from_a_mirror(tmp_path):
    """The same rule, served the real pinned files: the tables build and match the local ones."""
    served = tmp_path / "served"
    served.mkdir()
    for split in ("train", "test"):
        shutil.copy(
            SHARED / "gsm8k" / f"{split}.jsonl", served / download.PUBLIC[f"gsm8k/{split}"].name
        )
    work = tmp_path / "work"
    proc, _ = _public_rule(work, served, tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for split in ("train", "test"):
        built = data.read_raw(work / "data" / "raw" / "gsm8k" / f"{split}.parquet")
        assert built.equals(_shared_table("gsm8k", split).head(3))


def test_local_data_moved_or_touched_plans_nothing_edited_rebuilds(tmp_path):
    """A local source's folder is a place (it reaches `lema data` through --operational), its
    content is a param (sha256): moving the folder or touching its files plans no job; editing
    a file rebuilds exactly the table read from it."""
    here = tmp_path / "data-a"
    shutil.copytree(sources.EMBEDDED_DIR, here)
    work = tmp_path / "work"

    def local(folder: Path) -> str:
        spec = {"gsm8k": str(folder / "gsm8k"), "math": str(folder / "math")}
        return json.dumps({"source": "local", "local": spec, "limit": {"train": 6, "test": 4}})

    proc = _snakemake(work, "--cores", "2", "--config", f"data={local(here)}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    there = tmp_path / "moved" / "data-b"
    there.parent.mkdir()
    here.rename(there)
    for f in there.rglob("*.jsonl"):
        os.utime(f, (f.stat().st_atime + 60, f.stat().st_mtime + 60))
    proc = _snakemake(work, "-n", "--config", f"data={local(there)}")
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-2000:]
    test_file = there / "gsm8k" / "test.jsonl"
    test_file.write_text(test_file.read_text().replace("Janet", "Janice", 1))
    proc = _snakemake(work, "-n", "--config", f"data={local(there)}")
    out = proc.stdout + proc.stderr
    assert re.search(r"raw_data\s+1\b", out), out[-2000:]
    planned = re.findall(r"^\s+output: (\S+)", out, flags=re.M)
    assert planned == ["data/raw/gsm8k/test.parquet"], planned


@needs_shared
def test_identical_rerun_of_an_artefact_over_1_mb_does_not_cascade(tmp_path):
    """The full GSM8K train table is 1.4 MB, over Snakemake's default checksum limit (1 MB).
    Forced to rerun, `lema data` writes the same bytes; with the profiles' limit (2 GB) the
    tiny model built from it is not rebuilt, with the default it would be."""
    config = tmp_path / "big.yaml"
    config.write_text(
        "tasks: [gsm8k]\n"
        f"data: {{source: local, local: {{gsm8k: {SHARED / 'gsm8k'}, math: null}}}}\n"
        "models: {tm: {backend: hf, chat: false,"
        " tiny: {vocab_size: 300, hidden_size: 16, layers: 1, heads: 2}}}\n"
        "generators: [tm]\ncorrector: gold\nbackbones: {tb: {tiny: true}}\n"
    )
    work = tmp_path / "work"
    limit = ("--max-checksum-file-size", "2GB")
    model = ["results/models/tm"]
    proc = _snakemake(work, "--configfile", str(config), "--cores", "2", *limit, targets=model)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = work / "data" / "raw" / "gsm8k" / "train.parquet"
    before = table.read_bytes()
    assert len(before) > 1_000_000
    proc = _snakemake(
        work, "--configfile", str(config), "--cores", "1", "--forcerun", "raw_data", *limit,
        targets=["data/raw/gsm8k/train.parquet"],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert table.read_bytes() == before  # byte-deterministic
    planned = _snakemake(work, "--configfile", str(config), "-n", *limit, targets=model)
    assert "Nothing to be done" in planned.stdout + planned.stderr, planned.stdout[-2000:]
    default = _snakemake(work, "--configfile", str(config), "-n", targets=model)
    assert re.search(r"tiny_model\s+1\b", default.stdout + default.stderr), default.stdout[-2000:]
