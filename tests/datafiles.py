"""Where the tests' real data lives.

- ``EMBEDDED``: the slice of real GSM8K and MATH that ships inside the package
  (``lema/data/embedded``: 320 train / 60 test rows per task, original formats). Every clone
  has it, so tests that need no more than that read it — on a user's machine too.
- ``SHARED``: the full splits in ``../shared/data`` (or ``$LEMA_SHARED_DATA``), and the
  evaluation-only benchmarks in its ``benchmarks/``, present on the project's own machines
  only. Tests that need them carry ``@pytest.mark.shared``: they skip with the reason when
  the folder is absent, and fail under ``CI=true`` (conftest.py). ``benchmarks/`` also holds
  ``csqa_dev.jsonl``, microsoft/LEMA's copy of the CommonsenseQA dev set (csqa's test split).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lema.data import BENCHMARKS
from lema.data.sources import EMBEDDED_DIR

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED = EMBEDDED_DIR
SHARED = Path(os.environ.get("LEMA_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()
SHARED_BENCHMARKS = SHARED / "benchmarks"  # {benchmark}.jsonl: the evaluation-only test sets
SHARED_FILES = [SHARED / t / f"{s}.jsonl" for t in ("gsm8k", "math") for s in ("train", "test")]
SHARED_FILES += [SHARED_BENCHMARKS / f"{b}.jsonl" for b in BENCHMARKS]
SHARED_CSQA_DEV = SHARED_BENCHMARKS / "csqa_dev.jsonl"  # csqa's test split (1,221 rows)
SHARED_FILES += [SHARED_CSQA_DEV]


def shared_missing() -> str | None:
    """Why the full shared data cannot be used here, or None when it is all there."""
    missing = [str(p) for p in SHARED_FILES if not p.is_file()]
    if missing:
        return (
            f"the full GSM8K/MATH/benchmark/CSQA files are not at {SHARED} (set LEMA_SHARED_DATA): "
            + ", ".join(missing)
        )
    return None


def jsonl(path: Path, n: int | None = None) -> list[dict]:
    """The first ``n`` rows (all with None) of a JSONL file."""
    rows = []
    with path.open() as fh:
        for line in fh:
            if n is not None and len(rows) >= n:
                break
            if line.strip():
                rows.append(json.loads(line))
    return rows
