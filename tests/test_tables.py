"""lema.tables: one schema per table, one name for the gold answer, and tables written by the
previous version (gold answer as `answer` / `gold_answer`) read without a rebuild."""

from __future__ import annotations

import re

import polars as pl
import pytest

from lema import tables
from lema.errors import DataError, LemaError
from lema.workflow import paths

SCHEMAS = {
    "raw": tables.RAW_SCHEMA,
    "paths": tables.PATH_SCHEMA,
    "corrections": tables.CORRECTION_SCHEMA,
    "evolved": tables.EVOLVED_SCHEMA,
    "cot": tables.COT_SCHEMA,
}
# the name each table kind gave the gold answer before it was `gold`
OLD_NAME = {
    "raw": "answer",
    "paths": "gold_answer",
    "corrections": "gold_answer",
    "evolved": "answer",
    "cot": "gold_answer",
}


def _row(schema: dict) -> dict:
    sample = {pl.String: "x", pl.Int64: 1, pl.Float64: 0.5, pl.Boolean: True}
    return {c: ["x", "y"] if isinstance(t, pl.List) else sample[t] for c, t in schema.items()}


@pytest.mark.parametrize("kind", list(SCHEMAS))
def test_every_table_names_the_gold_answer_gold(kind):
    columns = set(SCHEMAS[kind])
    assert tables.GOLD in columns
    assert not columns & set(tables.LEGACY_RENAMES)


def test_legacy_map_only_renames_to_current_columns():
    assert set(tables.LEGACY_RENAMES.values()) == {tables.GOLD}
    assert set(OLD_NAME.values()) == set(tables.LEGACY_RENAMES)


@pytest.mark.parametrize("kind", list(SCHEMAS))
def test_a_table_of_the_previous_version_reads_with_current_names(tmp_path, kind):
    schema = SCHEMAS[kind]
    path = tmp_path / f"{kind}.parquet"
    written = tables.write_table(path, [_row(schema)], schema)
    written.rename({tables.GOLD: OLD_NAME[kind]}).write_parquet(path)
    frame = tables.read_table(path, schema)
    assert frame.columns == list(schema)  # same place, current name
    assert frame.equals(written)


def test_a_table_of_this_version_reads_unchanged(tmp_path):
    path = tmp_path / "paths.parquet"
    written = tables.write_table(path, [_row(tables.PATH_SCHEMA)], tables.PATH_SCHEMA)
    assert tables.read_table(path, tables.PATH_SCHEMA).equals(written)
    assert pl.read_parquet(path).columns == list(tables.PATH_SCHEMA)


def test_a_table_without_the_gold_answer_fails_naming_the_file(tmp_path):
    path = tmp_path / "mistakes.parquet"
    pl.DataFrame({"path_id": ["a"], "question": ["q"]}).write_parquet(path)
    with pytest.raises(LemaError, match=rf"^{re.escape(str(path))}: missing column\(s\) gold$"):
        tables.read_table(path, ("path_id", "question", tables.GOLD))


def test_missing_and_unreadable_files_fail_naming_the_file(tmp_path):
    with pytest.raises(
        DataError, match=rf"^{re.escape(str(tmp_path / 'nope.parquet'))}: file not found$"
    ):
        tables.read_table(tmp_path / "nope.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(DataError, match=rf"^{re.escape(str(bad))}: not a readable parquet file"):
        tables.read_table(bad)


def test_the_current_name_wins_over_an_old_one(tmp_path):
    """A table that has `gold` keeps it; an unrelated `answer` column is left alone."""
    path = tmp_path / "t.parquet"
    pl.DataFrame({"gold": ["4"], "answer": ["5"]}).write_parquet(path)
    frame = tables.read_table(path, (tables.GOLD,))
    assert frame.columns == ["gold", "answer"] and frame["gold"].to_list() == ["4"]


def test_empty_tables_keep_their_schema(tmp_path):
    frame = tables.write_table(tmp_path / "e.parquet", [], tables.COT_SCHEMA)
    assert frame.schema == pl.Schema(tables.COT_SCHEMA)
    assert tables.read_table(tmp_path / "e.parquet").schema == pl.Schema(tables.COT_SCHEMA)


def test_stats_path_is_beside_the_output(tmp_path):
    assert tables.stats_path_for(tmp_path / "x.parquet") == tmp_path / "x.stats.json"
    assert tables.stats_path_for("results/gsm8k/train/cot.jsonl").name == "cot.stats.json"
    # a dotted generator name keeps its dots; only the suffix is replaced, as the rules do
    dotted = "results/gsm8k/paths/gpt-3.5.parquet"
    assert tables.stats_path_for(dotted).name == "gpt-3.5.stats.json"
    assert str(tables.stats_path_for(dotted)) == paths.stats_file(dotted)


def test_rows_with_gold_drops_null_and_blank():
    frame = pl.DataFrame({"gold": ["1", None, "  ", "x"]})
    assert tables.rows_with_gold(frame)["gold"].to_list() == ["1", "x"]
