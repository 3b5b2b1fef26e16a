"""Rule params and resources: what the rules pass, computed from the validated config.

A param is a rerun trigger (see :mod:`lema.workflow.knobs`), so every value here is stable
text: resolved settings and specs as canonical JSON, prompt and data content as sha256, and
the ``lema`` options a setting turns into. Resources (GPUs, memory, runtime in minutes) are
defaults that profiles and ``--set-resources`` override. Functions take the config
explicitly; stage modules are imported inside the functions that need them, so importing
this module stays cheap.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

from lema.errors import ConfigError
from lema.workflow import paths
from lema.workflow.knobs import content_sha256, result_spec


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces: the same settings give the same param text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def config_exit(exc: ConfigError, prefix: str = "") -> NoReturn:
    """Stop the Snakefile with the one-line ``lema: config error: ...`` message."""
    sys.exit(f"lema: config error: {prefix}{exc}")


def check_config(config: dict[str, Any]) -> None:
    """Validate ``config`` in place (defaults filled in), and the MATH subject names; exit
    with one line naming the offending key."""
    from lema.config import validate_config
    from lema.data.subjects import normalize_subjects

    try:
        validate_config(config)
        normalize_subjects(config["data"]["math_subjects"])
    except ConfigError as exc:
        config_exit(exc)


# --- data ----------------------------------------------------------------------------------
def rule_local(config: dict[str, Any], task: str) -> str:
    """The local path for ``task`` when data.source is local, else "" (rules/data.smk)."""
    if config["data"]["source"] != "local":
        return ""
    path = config["data"]["local"].get(task) or ""
    if not path:
        raise ConfigError(
            f"config key 'data.local.{task}': a path is required with data.source: local"
        )
    return path


def rule_source_args(config: dict[str, Any], task: str) -> list[str]:
    """`lema data` options naming the source of ``task`` (rules/data.smk): a list, so that
    an empty value can never vanish from the shell command and shift the options. A local
    folder is not named here: it is a place, passed through ``--operational``."""
    spec = defined_spec(config, task)
    if spec is not None:  # a task of tasks_defined: its fields and answer type shape the table
        return ["--defined", json.dumps(spec, sort_keys=True, separators=(",", ":"))]
    rule_local(config, task)  # a local source without a path fails here, naming the key
    return ["--source", config["data"]["source"]]


def defined_spec(config: dict[str, Any], task: str) -> dict[str, Any] | None:
    """What of ``tasks_defined.<task>`` shapes its raw table (the field names and the answer
    type, not the file paths: those are places), or None for a built-in task."""
    from lema.data.defined import FIELD_KEYS

    entry = (config.get("tasks_defined") or {}).get(task)
    if entry is None:
        return None
    return {k: entry.get(k) for k in (*FIELD_KEYS, "answer_type")}


def rule_source_content(config: dict[str, Any], task: str, split: str) -> str:
    """The content the table is built from, as a param: the sha256 of the embedded file, or
    of the local file/folder read (so editing it rebuilds the table, while moving or
    touching it does not); "" for the public source (pinned by checksum in lema.data)."""
    from lema.data.sources import embedded_file, local_inputs

    entry = (config.get("tasks_defined") or {}).get(task)
    if entry is not None:
        return content_sha256(entry[split])
    source = config["data"]["source"]
    if source == "embedded":
        return content_sha256(embedded_file(task, split))
    if source == "local":
        return "|".join(
            content_sha256(p) for p in local_inputs(task, split, rule_local(config, task))
        )
    return ""


def rule_filters(config: dict[str, Any], task: str, split: str) -> list[str]:
    """`lema data` options for data.limit and the MATH subject/level subset (rules/data.smk)."""
    limit = config["data"]["limit"].get(split)
    return (["--limit", str(limit)] if limit is not None else []) + rule_subset(config, task)


def rule_subset(config: dict[str, Any], task: str) -> list[str]:
    """`lema data` options for the MATH subject/level subset (none for GSM8K)."""
    from lema.data.subjects import normalize_subjects

    data = config["data"]
    opts: list[str] = []
    if task == "math":
        subjects = normalize_subjects(data.get("math_subjects"))
        if subjects is not None:
            opts += ["--math-subjects", ",".join(subjects)]
        if data.get("math_levels") is not None:
            opts += ["--math-levels", ",".join(map(str, data["math_levels"]))]
    return opts


# --- evaluation-only benchmarks ------------------------------------------------------------
def known_tasks(config: dict[str, Any]) -> list[str]:
    """Every task the rules accept under ``config``: the built-in ones (lema.tasks) and those
    defined under ``tasks_defined``."""
    from lema.tasks import known_tasks as registered

    return registered(config)


def known_benchmarks() -> list[str]:
    """Every evaluation-only benchmark lema can read (lema.data.BENCHMARKS)."""
    from lema.data import BENCHMARKS

    return list(BENCHMARKS)


def task_benchmarks(config: dict[str, Any], task: str) -> list[str]:
    """The benchmarks ``task``'s adapters are also evaluated on (evaluation.benchmarks)."""
    return list(config["evaluation"]["benchmarks"].get(task) or [])


def study_benchmarks(config: dict[str, Any]) -> list[str]:
    """Every benchmark some studied task is evaluated on, in the registry's order."""
    from lema.data import BENCHMARKS

    wanted = {b for t in config["tasks"] for b in task_benchmarks(config, t)}
    return [b for b in BENCHMARKS if b in wanted]


def benchmark_source(config: dict[str, Any], benchmark: str) -> str:
    """Where a benchmark's test table comes from: ``local`` when ``data.local.{benchmark}``
    is given, else ``public`` (the pinned download) when data.source is public; a benchmark
    has no embedded slice, and data.source local needs its path (ConfigError naming it)."""
    if config["data"]["local"].get(benchmark):
        return "local"
    source = config["data"]["source"]
    if source == "public":
        return "public"
    raise ConfigError(
        f"config key 'data.local.{benchmark}': a path is required for benchmark "
        f"'{benchmark}' (evaluation.benchmarks) with data.source: {source}"
        + (" (benchmarks have no embedded slice)" if source == "embedded" else "")
    )


def benchmark_source_args(config: dict[str, Any], benchmark: str) -> list[str]:
    """`lema data` options naming a benchmark's source (its local path is a place: it reaches
    the command through ``--operational``)."""
    return ["--source", benchmark_source(config, benchmark)]


def benchmark_content(config: dict[str, Any], benchmark: str) -> str:
    """The sha256 of a benchmark's local file (a param: editing it rebuilds the table), ""
    for the public source (pinned by checksum in lema.data.download)."""
    from lema.data.benchmarks import local_file

    if benchmark_source(config, benchmark) == "public":
        return ""
    return content_sha256(local_file(benchmark, config["data"]["local"][benchmark]))


def warmup_rows_args(config: dict[str, Any], task: str) -> list[str]:
    """`lema data` options for the warm-up rows: the training rows after data.limit.train
    (never the study's own questions), as many as the largest `tiny.warmup_rows` asks, of
    the same MATH subjects/levels."""
    settings = [tiny_settings(config, n) for n in tiny_model_names(config)]
    rows = max((s["warmup_rows"] for s in settings if s["warmup_steps"]), default=1)
    skip = config["data"]["limit"]["train"] or 0
    return ["--skip", str(skip), "--limit", str(rows)] + rule_subset(config, task)


# --- tiny models ---------------------------------------------------------------------------
def tiny_model_names(config: dict[str, Any]) -> list[str]:
    """Names under `models` or `backbones` with `tiny:` set: each gets a model_folder."""
    names = [n for n, m in config.get("models", {}).items() if m.get("tiny")]
    names += [n for n, b in config.get("backbones", {}).items() if b.get("tiny") and n not in names]
    return names


def tiny_settings(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The `tiny:` settings of the entry called ``name``, defaults filled in."""
    from lema.config import tiny_settings as settings

    entry = config.get("models", {}).get(name) or config.get("backbones", {}).get(name) or {}
    return settings(entry.get("tiny"))


def tiny_model_args(config: dict[str, Any], name: str) -> str:
    """`lema tiny-model` flags from the entry's `tiny:` settings (a param: a change rebuilds)."""
    s = tiny_settings(config, name)
    args = (
        f"--hidden-size {s['hidden_size']} --layers {s['layers']} --heads {s['heads']}"
        f" --vocab-size {s['vocab_size']} --seed {s['seed']}"
    )
    if s["warmup_steps"]:
        tables = " --warmup ".join(paths.warmup_table(t) for t in config["tasks"])
        args += (
            f" --warmup-steps {s['warmup_steps']} --warmup-rows {s['warmup_rows']}"
            f" --warmup {tables}"
        )
    return args


# --- model specs and prompts ---------------------------------------------------------------
def model_spec(config: dict[str, Any], name: str) -> dict[str, Any]:
    """A model's spec, a tiny model's ``model`` set to its model_folder."""
    from lema.config import model_spec as configured

    spec = configured(config, name)
    if spec.get("tiny"):
        spec["model"] = paths.model_folder(name)
    return spec


def model_spec_json(config: dict[str, Any], name: str) -> str:
    """A model's spec as canonical JSON, without its operational keys (lema.workflow.knobs):
    a rule param, so a spec change reruns its outputs, and a knob such as concurrency does
    not."""
    return canonical_json(result_spec(model_spec(config, name)))


def all_model_specs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every model the study may call: `models`, the generators and the corrector."""
    from lema.config.load import corrector_of

    correctors = {corrector_of(config, t) for t in config["tasks"]}
    names = set(config.get("models", {})) | set(config["generators"]) | correctors
    return {name: model_spec(config, name) for name in names}


def prompt_sha256(config: dict[str, Any], section: str, task: str) -> str:
    """The content of the prompt configured under ``section.prompt.task`` (a param):
    editing it reruns its stage; moving the checkout or touching the file does not."""
    from lema.datagen.prompts import prompt_path
    from lema.tasks import per_task

    return content_sha256(prompt_path(per_task(config[section]["prompt"], task, config)))


def evolution_status(config: dict[str, Any], task: str) -> str:
    """'enabled', or why the evolved branch of ``task`` is left out of the graph."""
    from lema.config.load import corrector_of
    from lema.tasks import evolves

    if not config["evolution"]["enabled"]:
        return "disabled (evolution.enabled: false)"
    if model_spec(config, corrector_of(config, task))["backend"] == "gold":
        return "skipped: the gold corrector cannot write new questions"
    if not evolves(task, config):
        return (
            "skipped: a multiple-choice task's new questions would need new candidate answers, "
            "which evolution does not write"
        )
    return "enabled"


def qsets(status: str) -> list[str]:
    """Question sets whose mistakes are corrected, given the evolution_status: the training
    questions, and evolved ones."""
    return list(paths.QSETS) if status == "enabled" else ["original"]


# --- mixes ---------------------------------------------------------------------------------
def size_mixes(config: dict[str, Any]) -> list[str]:
    """The data-size curve's mixes (``mix.sizes``): cot and lema at each size."""
    sizes = sorted(config["mix"].get("sizes") or [])
    return [paths.size_mix(base, n) for base in paths.SIZE_CURVE_MIXES for n in sizes]


def train_mixes(config: dict[str, Any]) -> list[str]:
    """Every mix that gets an adapter: the configured ``mixes`` and the size curve's."""
    return list(config["mixes"]) + [m for m in size_mixes(config) if m not in config["mixes"]]


def eval_mixes(config: dict[str, Any]) -> list[str]:
    """Every mix evaluated: ``evaluation.mixes`` and the size curve's."""
    listed = list(config["evaluation"]["mixes"])
    return listed + [m for m in size_mixes(config) if m not in listed]


def benchmark_mixes(config: dict[str, Any]) -> list[str]:
    """The evaluated mixes also evaluated on the benchmarks (``evaluation.benchmark_mixes``;
    null: every evaluated mix)."""
    chosen = config["evaluation"].get("benchmark_mixes")
    evaluated = eval_mixes(config)
    return evaluated if chosen is None else [m for m in evaluated if m in chosen]


def augment_args(config: dict[str, Any]) -> str:
    """`lema cot-augment` options from ``cot`` (a param: a change re-augments)."""
    cot = config["cot"]
    return (
        f"--paths {cot['augment_paths']} --base-n {cot['corrector_paths']}"
        f" --margin {cot['augment_margin']} --max-paths {cot['augment_max_paths']}"
    )


def cap_arg(flag: str, cap: int | None) -> str:
    """``--flag N`` for a positive cap, nothing for none."""
    return f"{flag} {int(cap)}" if cap else ""


def task_args(tasks: list[str]) -> str:
    """``--task a --task b`` for every task."""
    return " ".join(f"--task {t}" for t in tasks)


# --- training and evaluation ---------------------------------------------------------------
def backbone(config: dict[str, Any], name: str) -> dict[str, Any]:
    if name not in config["backbones"]:
        raise ValueError(f"backbone '{name}' is not defined under 'backbones'")
    return config["backbones"][name]


def is_tiny(config: dict[str, Any], name: str) -> bool:
    return bool(backbone(config, name).get("tiny"))


def base_model(config: dict[str, Any], name: str) -> str:
    """The backbone's model: the model_folder of a tiny backbone, else its HF id or folder."""
    return paths.model_folder(name) if is_tiny(config, name) else backbone(config, name)["model"]


def train_settings_json(config: dict[str, Any], name: str, task: str) -> str:
    """The resolved training settings as canonical JSON (a param: a change retrains)."""
    from lema.config import backbone_training

    return canonical_json(backbone_training(config, name, task))


def predict_spec_json(config: dict[str, Any], task: str, name: str, mix: str) -> str:
    """The decoding model spec as canonical JSON (a param: a change re-decodes)."""
    from lema.config import decode_spec

    adapter = None if mix == "base" else paths.adapter_folder(task, name, mix)
    spec = decode_spec(config, task, name, mix, base_model(config, name), adapter=adapter)
    return canonical_json(result_spec(spec))


def size_b(config: dict[str, Any], name: str) -> float:
    """The backbone's size in billions of parameters (7 unless given)."""
    return backbone(config, name).get("size_b", 7)


def train_gpus(config: dict[str, Any], name: str) -> int:
    return 0 if is_tiny(config, name) else 1


def train_mem_mb(config: dict[str, Any], name: str) -> int:
    return 4000 if is_tiny(config, name) else int(32000 + 1000 * size_b(config, name))


def merge_mem_mb(config: dict[str, Any], name: str) -> int:
    """Merging loads the unquantised base model on CPU: ~2.5 bytes per parameter in bf16."""
    return 4000 if is_tiny(config, name) else int(16000 + 2500 * size_b(config, name))


def train_runtime(config: dict[str, Any], name: str) -> int:
    if is_tiny(config, name):
        return 60
    return 2880 if size_b(config, name) >= 34 else 1440


def train_launcher(gpus: int) -> str:
    """`lema`, or `accelerate launch` with one process per GPU when the job has several."""
    if gpus > 1:
        return (
            f"accelerate launch --num_processes {gpus} --num_machines 1 --multi_gpu"
            " --dynamo_backend no -m lema.cli"
        )
    return "lema"


def _decodes_locally(config: dict[str, Any], name: str) -> bool:
    """Evaluation runs the (non-tiny) backbone in-process with transformers."""
    return config["evaluation"]["backend"] == "hf" and not is_tiny(config, name)


def _evaluation_serves(config: dict[str, Any]) -> bool:
    """Each predict job serves the backbone itself (evaluation.serve)."""
    ev = config["evaluation"]
    return ev["backend"] == "openai" and bool(ev.get("serve"))


def predict_gpus(config: dict[str, Any], name: str) -> int:
    if _evaluation_serves(config):
        from lema.serving import gpus

        return gpus(config["evaluation"])
    return 1 if _decodes_locally(config, name) else 0


def predict_mem_mb(config: dict[str, Any], name: str) -> int:
    return int(16000 + 2200 * size_b(config, name)) if _decodes_locally(config, name) else 4000


def predict_runtime(config: dict[str, Any], name: str) -> int:
    return 1440 if _decodes_locally(config, name) or _evaluation_serves(config) else 60


def predict_reads_adapter(config: dict[str, Any]) -> bool:
    """The predict job reads the adapter folder (and a tiny backbone's folder): in-process
    decoding, or a server the job starts itself; not a server started by hand."""
    return config["evaluation"]["backend"] == "hf" or _evaluation_serves(config)


def model_gpus(config: dict[str, Any], name: str) -> int:
    """GPUs a job calling the model ``name`` needs for it: its server's, when it is served."""
    from lema.serving import gpus

    return gpus(model_spec(config, name))
