"""What changes an output, and what only says where things are or how fast to go.

A rule's params are Snakemake's rerun trigger: they must hold exactly what changes the rule's
output. Places (the checkout, the data folders, the response cache) and throughput knobs
(concurrency, timeouts, retries, the spending cap, the endpoint and its key variable, hf batch
size, how a self-served model is started: ``serve``) change no output, so they never enter
params. The Snakefile hands them to every
command as one JSON object instead (``--operational``, built by :func:`operational`), and a
command merges them back into the model spec it was given (:func:`with_operational`).

The hf ``batch_size`` is operational: batching with left padding changes the floating-point
order of a forward pass, which can flip a greedy choice between two near-equal tokens in rare
cases, but it is a speed setting and the response cache keeps what a run produced. ``dtype``
changes results and stays in the spec.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from lema.errors import LemaError
from lema.io import sha256_file

# keys of a model spec that never change an output
MODEL_KEYS = (
    "base_url",
    "api_key_env",
    "concurrency",
    "timeout_s",
    "max_retries",
    "max_cost_usd",
    "batch_size",
    "serve",
)
EVALUATION_KEYS = ("base_url", "api_key_env", "concurrency", "batch_size", "serve")


def result_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` without its operational keys: what a rule's params may hold."""
    return {k: v for k, v in spec.items() if k not in MODEL_KEYS}


def operational(config: dict[str, Any], model_specs: dict[str, dict[str, Any]]) -> str:
    """The operational settings of a run as canonical JSON (for the rules' shell commands,
    never their params): the cache path, each model's knobs, evaluation's endpoint and batch
    size, and the local data folders."""
    evaluation = config.get("evaluation", {})
    data = config.get("data", {})
    settings = {
        "cache": config.get("cache"),
        "models": {
            name: {k: spec[k] for k in MODEL_KEYS if k in spec}
            for name, spec in sorted(model_specs.items())
        },
        "evaluation": {k: evaluation[k] for k in EVALUATION_KEYS if k in evaluation},
        "data_local": _data_local(data),
    }
    defined = config.get("tasks_defined") or {}
    if defined:  # the files of each task of tasks_defined (places, not params)
        settings["tasks_files"] = {
            name: {"train": entry["train"], "test": entry["test"]}
            for name, entry in sorted(defined.items())
        }
        # and each one's kind, which a stage command grades and formats by (lema.tasks.kind_of);
        # not a param: answer_type is one of the raw-table rule's, and all else follows the table
        from lema.tasks import KIND_OF_ANSWER_TYPE

        settings["tasks_kinds"] = {
            name: KIND_OF_ANSWER_TYPE.get(entry.get("answer_type") or "numeric", "gsm8k")
            for name, entry in sorted(defined.items())
        }
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def _data_local(data: dict[str, Any]) -> dict[str, Any]:
    """The local data paths `lema data` reads: every task's with data.source local, and each
    evaluation-only benchmark's that is given (a benchmark is read from its path whatever
    data.source says)."""
    from lema.data import BENCHMARKS

    local = dict(data.get("local") or {})
    out = {k: v for k, v in local.items() if k not in BENCHMARKS}
    out = out if data.get("source") == "local" else {}
    return {**out, **{b: local[b] for b in BENCHMARKS if local.get(b)}}


def parse(text: str | None) -> dict[str, Any]:
    """The ``--operational`` JSON (empty when not given)."""
    if not text:
        return {}
    try:
        out = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LemaError(f"--operational is not valid JSON ({exc.msg})") from None
    if not isinstance(out, dict):
        raise LemaError("--operational must be a JSON object")
    return out


def with_operational(spec: dict[str, Any], ops: dict[str, Any], *, evaluation: bool = False):
    """``spec`` with its operational keys filled back in from ``ops`` (the model's own entry,
    or evaluation's for a decoding spec); keys already in ``spec`` win."""
    extra = ops.get("evaluation", {}) if evaluation else ops.get("models", {}).get(spec.get("name"))
    if evaluation and spec.get("backend") == "hf":
        extra = {k: v for k, v in (extra or {}).items() if k == "batch_size"}
    elif evaluation:
        extra = {k: v for k, v in (extra or {}).items() if k != "batch_size"}
    return {**(extra or {}), **spec}


def cache_path(given: str | None, ops: dict[str, Any]) -> str | None:
    """The response cache: ``--cache`` when given, else the run's operational setting."""
    return given if given is not None else ops.get("cache")


@functools.cache
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """sha256_file, remembered per (path, size, mtime) within one process: the DAG asks for
    the same prompt's hash once per job."""
    return sha256_file(path)


def content_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, or of a folder's files (relative names and bytes, sorted):
    the content a rule reads by name, as a param (moving or touching it changes nothing)."""
    path = Path(path)
    if path.is_file():
        st = path.stat()
        return _file_sha256(str(path), st.st_size, st.st_mtime_ns)
    if path.is_dir():
        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f.relative_to(path).as_posix().encode() + b"\0")
            h.update(content_sha256(f).encode())
        return h.hexdigest()
    return ""
