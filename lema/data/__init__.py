"""Raw data: GSM8K, MATH and CommonsenseQA, train and test, normalised into one table.

``data/raw/{task}/{split}.parquet`` has the columns of :data:`lema.tables.RAW_SCHEMA`:
``id, task, split, question, solution, gold, level, subject``; CommonsenseQA's (``csqa``, a
task with choice answers: :data:`CHOICE_TASKS`) has two more, ``answer_type`` and ``choices``
(:data:`lema.tables.BENCHMARK_SCHEMA`).

Sources (config key ``data.source``):

``public``
    The pinned originals, downloaded once into a cache folder (``$LEMA_DATA_CACHE``, else
    ``$XDG_CACHE_HOME/lema/downloads``, else ``~/.cache/lema/downloads``) and verified
    against a sha256 checksum written in :data:`lema.data.download.PUBLIC`. GSM8K comes from
    openai/grade-school-math at commit ``GSM8K_REVISION``; MATH from Hendrycks'
    ``MATH.tar`` (Berkeley URL, with a pinned Wayback Machine snapshot as the fallback
    mirror), read straight from the tarball. CommonsenseQA: ``test`` is CommonsenseQA's dev
    set (what the paper evaluates on; the test set has no public answers) as distributed in
    microsoft/LEMA's ``test_data/csqa_dev.jsonl`` at ``LEMA_REVISION``, checksummed;
    ``train`` is the original ``train_rand_split.jsonl`` (S3, with a Wayback Machine snapshot
    as the fallback), of which no copy was at hand to pin: it is trusted on first download,
    its sha256 recorded beside the cache entry (``<name>.sha256``) and every later fetch
    verified against that record. ``$LEMA_DATA_MIRROR`` (a base URL, e.g. a
    cluster's internal web server holding the files under their cache names) replaces the
    upstream URLs; the checksums still apply.
``embedded``
    The slice of the real GSM8K and MATH files that ships inside the package
    (``lema/data/embedded/``, its README says which rows): what ``lema demo`` and the default
    tests use, offline. Read like ``local`` folders of the original formats. CommonsenseQA has
    no embedded slice (asking for one fails, naming public and local).
``local``
    ``data.local.gsm8k``: a folder holding ``train.jsonl`` / ``test.jsonl`` in the original
    GSM8K format (``question``, ``answer`` ending ``#### <number>``), or a file path
    containing ``{split}``.
    ``data.local.math``: a folder holding ``{split}.jsonl`` (Hendrycks schema: ``problem``,
    ``level``, ``type``, ``solution``), or a folder holding ``{split}/<subject>/<n>.json``
    (the extracted tarball: either ``MATH/`` itself or its parent), or a ``MATH.tar`` file,
    or a file path containing ``{split}``.
    ``data.local.csqa``: a folder holding ``train.jsonl`` / ``test.jsonl``, or a file path
    containing ``{split}``, each in CommonsenseQA's original format (``answerKey``, ``id``,
    ``question: {question_concept, choices: [{label, text}], stem}``) or microsoft/LEMA's
    (``prompt`` holding ``Question: …`` and ``Candidate Answers: …``, ``answer``,
    ``candidates``), told apart row by row (:mod:`lema.data.csqa`).

Stable ids (unique per table; a duplicate fails naming both places):

- GSM8K: ``gsm8k-{split}-{i:05d}``, ``i`` the 0-based row index in the original file.
- MATH from per-problem files (folder or tarball): ``math-{split}-{subject}-{n}`` from the
  subject folder and the file name, e.g. ``math-train-algebra-1234``.
- MATH from JSONL: rows with a ``unique_id`` like ``train/algebra/1234.json`` (MATH-500 /
  PRM800K style) get the same id as above; otherwise ``math-{split}-{subject}-{h}`` with
  ``h`` the first 12 hex digits of sha256(problem + "\\0" + solution) — stable across reruns
  and reorderings of the file.
- CommonsenseQA: ``csqa-{split}-{id}`` (the original's hex id), or ``csqa-{split}-{i:05d}``
  (``i`` the 0-based row index) for microsoft/LEMA's format, which has no id.

Gold answers: GSM8K — the text after the last ``####``, commas removed; MATH — the content
of the last ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces; also ``\\boxed 5``); both read by
the grading package's ``gold_answer`` (lema/grading/extract.py); CommonsenseQA — the answer
candidate's text (``choices`` the candidates, in label order; ``question`` the stem, then a
line ``Answer choices: a, b, c, d, e.``; no gold solution, no level; ``subject`` the
question concept where the format has one).
Any malformed row raises :class:`DataError` naming the file and line (or the problem file).
A MATH solution whose last box is empty (``\\boxed{}``: two rows of the MATH train split)
is kept with a null ``gold`` and a warning naming the row — later stages drop such rows.

Evaluation-only benchmarks (:data:`BENCHMARKS`: SVAMP, ASDiv, MAWPS, AQuA, AIME 2024, AMC
2023) are test sets only, built by the same command into ``data/raw/{benchmark}/test.parquet``
with two more columns, ``answer_type`` and ``choices`` (:mod:`lema.data.benchmarks` holds their
pinned sources, readers and gold conventions).

Modules, in the order a row travels: :mod:`~lema.data.download` (the pinned public files:
remotes, checksums, cache, mirror, fetch), :mod:`~lema.data.gsm8k` and
:mod:`~lema.data.hendrycks_math`, :mod:`~lema.data.csqa` (one reader per original format),
:mod:`~lema.data.subjects`
(MATH subject names), :mod:`~lema.data.benchmarks` (the evaluation-only test sets),
:mod:`~lema.data.sources` (which reader reads which source:
public, local, embedded), :mod:`~lema.data.build` (one checked, filtered table; reading it
back), :mod:`~lema.data.cli` (`lema data`). This package module holds only the names they all
share, so importing it (the workflow does, for the subject names) loads nothing heavy; build
and read tables with :func:`lema.data.build.build_table` and :func:`lema.data.build.read_raw`.
"""

from __future__ import annotations

from lema.tasks import BUILTIN, TASKS  # the task registry (built-in tasks)

#: evaluation-only test sets (lema.data.benchmarks.REGISTRY has one entry each)
BENCHMARKS = ("svamp", "asdiv", "mawps", "aqua", "aime24", "amc23")
SPLITS = ("train", "test")
SOURCES = ("public", "local", "embedded")
#: the tasks with a slice in lema/data/embedded/ (data.source embedded: the demo's)
EMBEDDED_TASKS = ("gsm8k", "math")
#: built-in tasks whose tables have the columns of lema.tables.BENCHMARK_SCHEMA (csqa)
CHOICE_TASKS = tuple(name for name, task in BUILTIN.items() if task.answer_type == "choice")
