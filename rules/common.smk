# The functions the rules call (wildcards -> value), in the order the data flows. The path
# scheme and the params' logic live in lema.workflow (paths, params, knobs); nothing here does
# more than hand the config and the wildcards over.
import os
import re

from lema.config.load import corrector_of
from lema.errors import ConfigError
from lema.tasks import per_task
from lema.workflow import params as rule_params
from lema.workflow.knobs import operational
from lema.workflow.paths import (
    CORRECTIONS_HTML,
    FUNNEL_HTML,
    FUNNEL_TXT,
    SUMMARY_CSV,
    SUMMARY_HTML,
    SUMMARY_MD,
    adapter_folder,
    benchmark_metrics,
    benchmark_predictions,
    checkpoints_folder,
    cot_augmented_table,
    cot_table,
    evolved_questions,
    gen_table,
    merged_folder,
    metrics_file,
    model_folder,
    plot_files,
    pool_table,
    predictions_table,
    raw_table,
    stats_file,
    train_mix,
    warmup_table,
)
from lema.workflow.params import config_exit

rule_params.check_config(config)  # defaults filled in; a bad key stops here, in one line

# envs/*.post-deploy.sh install this checkout's `lema` into conda envs from here.
os.environ.setdefault("LEMA_ROOT", workflow.basedir)

TASKS = config["tasks"]
SPLITS = ["train", "test"]
GENERATORS = list(config["generators"])
BACKBONES = list(config["backbones"])
TRAIN_MIXES = rule_params.train_mixes(config)  # `mixes` and the size curve's (mix.sizes)
EVAL_MIXES = rule_params.eval_mixes(config)
SIZE_MIXES = rule_params.size_mixes(config)
# evaluation-only benchmarks: task -> its benchmarks (evaluation.benchmarks)
TASK_BENCHMARKS = {t: rule_params.task_benchmarks(config, t) for t in TASKS}


def _alternation(names):
    """A wildcard constraint matching exactly ``names``."""
    return "|".join(re.escape(n) for n in names)


# only configured names match, so an unknown one fails as "no rule to produce" its path
GENERATOR_PATTERN = _alternation(sorted(GENERATORS, key=len, reverse=True))
BACKBONE_PATTERN = _alternation(sorted(BACKBONES, key=len, reverse=True))
# every registered task (built-in and tasks_defined: lema.tasks); rule all asks for `tasks`
TASK_PATTERN = _alternation(sorted(rule_params.known_tasks(config), key=len, reverse=True))
# every benchmark lema reads: any can be built on request; rule all asks for the configured ones
BENCHMARK_PATTERN = _alternation(sorted(rule_params.known_benchmarks(), key=len, reverse=True))
# the mixes `mix` writes from the pool alone (cot_matched has its own rule), and those evaluated
POOL_MIXES = sorted(
    {m for m in TRAIN_MIXES + EVAL_MIXES if m not in ("base", "cot_matched")}, key=len, reverse=True
)
POOL_MIX_PATTERN = _alternation(POOL_MIXES)
EVAL_MIX_PATTERN = _alternation(sorted(set(EVAL_MIXES) | {"base"}, key=len, reverse=True))


wildcard_constraints:
    task=TASK_PATTERN,
    split="train|test",
    generator=GENERATOR_PATTERN,


# --- data (rules/data.smk) -----------------------------------------------------------------
def data_source(wildcards):
    return rule_params.rule_source_args(config, wildcards.task)


def data_content(wildcards, split=None):
    return rule_params.rule_source_content(config, wildcards.task, split or wildcards.split)


def data_filters(wildcards):
    return rule_params.rule_filters(config, wildcards.task, wildcards.split)


def benchmark_source(wildcards):
    try:
        return rule_params.benchmark_source_args(config, wildcards.benchmark)
    except ConfigError as exc:
        config_exit(exc)


def benchmark_content(wildcards):
    try:
        return rule_params.benchmark_content(config, wildcards.benchmark)
    except ConfigError as exc:
        config_exit(exc)


def benchmark_filters(wildcards):
    return rule_params.rule_filters(config, wildcards.benchmark, "test")


def warmup_rows_args(wildcards):
    return rule_params.warmup_rows_args(config, wildcards.task)


# --- tiny local models (rules/tiny.smk) ----------------------------------------------------
TINY_MODELS = rule_params.tiny_model_names(config)
TINY_MODEL_PATTERN = _alternation(TINY_MODELS)


def tiny_model_args(wildcards):
    return rule_params.tiny_model_args(config, wildcards.name)


def tiny_model_inputs(wildcards):
    """The tokenizer's text (the raw train tables), and the warm-up tables when it warms up."""
    inputs = {"texts": [raw_table(t, "train") for t in TASKS]}
    if rule_params.tiny_settings(config, wildcards.name)["warmup_steps"]:
        inputs["warmup"] = [warmup_table(t) for t in TASKS]
    return inputs


# --- model specs and prompts (every generation stage) --------------------------------------
def _spec(name):
    try:
        return rule_params.model_spec(config, name)
    except ConfigError as exc:
        config_exit(exc)


# Places and knobs (cache path, model knobs, endpoints, local data folders) reach every
# command as one JSON in $LEMA_OPERATIONAL (`--operational "$LEMA_OPERATIONAL"`), never as a
# param, so changing them reruns nothing. Set here, at parse time: a cluster job parses the
# Snakefile again on its node, so it is set there too.
try:
    os.environ.update(LEMA_OPERATIONAL=operational(config, rule_params.all_model_specs(config)))
except ConfigError as exc:
    config_exit(exc)


def model_spec_json(name):
    """A model's spec without its operational keys (a param: a spec change reruns)."""
    try:
        return rule_params.model_spec_json(config, name)
    except ConfigError as exc:
        config_exit(exc)


def model_inputs(name):
    """The folder of a tiny local model (built by rules/tiny.smk), else nothing."""
    return [model_folder(name)] if _spec(name).get("tiny") else []


def generator_spec(wildcards):
    return model_spec_json(wildcards.generator)


def corrector_name(task):
    """The corrector of ``task`` (config ``corrector``: one model, or one per task)."""
    try:
        return corrector_of(config, task)
    except ConfigError as exc:
        config_exit(exc)


def corrector_spec(wildcards):
    return model_spec_json(corrector_name(wildcards.task))


def generator_gpus(wildcards):
    """GPUs of the generator's own server (`serve.gpus`) when the job serves it, else 0."""
    return rule_params.model_gpus(config, wildcards.generator)


def corrector_gpus(wildcards):
    return rule_params.model_gpus(config, corrector_name(wildcards.task))


def prompt_name(section, task):
    """A configured prompt as written in the config (a packaged prompt's name, or the user's
    path): a stable string for the shell, whichever folder the checkout lives in."""
    prompt_sha256(section, task)  # an unknown prompt fails here, naming the key
    return per_task(config[section]["prompt"], task, config)


def prompt_sha256(section, task):
    """The prompt's content (a param): editing it reruns its stage."""
    try:
        return rule_params.prompt_sha256(config, section, task)
    except ConfigError as exc:
        config_exit(exc, f"{section}.prompt.{task}: ")


def evolution_status(task):
    """'enabled', or why the evolved branch of ``task`` is left out of the graph."""
    try:
        return rule_params.evolution_status(config, task)
    except ConfigError as exc:
        config_exit(exc)


def qsets(task):
    """Question sets whose mistakes are corrected: the training questions, and evolved ones."""
    return rule_params.qsets(evolution_status(task))


# --- sample (rules/sample.smk) -------------------------------------------------------------
def sample_inputs(wildcards):
    return {
        "questions": raw_table(wildcards.task, "train"),
        "model": model_inputs(wildcards.generator),
    }


def sample_inputs_evolved(wildcards):
    return {
        "questions": evolved_questions(wildcards.task),
        "model": model_inputs(wildcards.generator),
    }


def sample_max_tokens(wildcards):
    return per_task(config["sampling"]["max_tokens"], wildcards.task, config)


def max_mistakes_arg(wildcards):
    return rule_params.cap_arg("--max-per-question", config["sampling"]["max_mistakes_per_question"])


# --- correct (rules/correct.smk) -----------------------------------------------------------
def correct_inputs(wildcards):
    return {
        "model": model_inputs(corrector_name(wildcards.task)),
    }


# --- evolve (rules/evolve.smk) -------------------------------------------------------------
def evolve_inputs(wildcards):
    return {
        "corrections": [gen_table(wildcards.task, "original", "corrections", g) for g in GENERATORS],
        "model": model_inputs(corrector_name(wildcards.task)),
    }


def max_seeds_arg(wildcards):
    return rule_params.cap_arg("--max-seeds", config["evolution"]["max_seeds"])


# --- cot (rules/cot.smk) -------------------------------------------------------------------
def cot_inputs(wildcards):
    return {
        "questions": raw_table(wildcards.task, "train"),
        "model": model_inputs(corrector_name(wildcards.task)),
    }


# --- mix (rules/mix.smk) -------------------------------------------------------------------
def pool_inputs(wildcards):
    return {
        "cot": cot_table(wildcards.task),
        "corrections": [
            gen_table(wildcards.task, q, "corrections", g)
            for q in qsets(wildcards.task)
            for g in GENERATORS
        ],
        "tests": [raw_table(t, "test") for t in TASKS],
    }


def augment_inputs(wildcards):
    return {
        "cot": cot_table(wildcards.task),
        "pool": pool_table(wildcards.task),
        "model": model_inputs(corrector_name(wildcards.task)),
    }


def augment_args():
    """`lema cot-augment` options (cot.augment_paths, margin, cap; cot.corrector_paths)."""
    return rule_params.augment_args(config)


def mix_targets():
    return [train_mix(t, m) for t in TASKS for m in TRAIN_MIXES]


def task_args():
    """`--task gsm8k --task math`: the configured tasks, for `lema stats` and `lema report`."""
    return rule_params.task_args(TASKS)


# --- train (rules/train.smk) ---------------------------------------------------------------
def train_model(wildcards):
    """The base model: the local folder of a tiny backbone, else its HF id or folder."""
    return rule_params.base_model(config, wildcards.backbone)


def _tiny_model_input(backbone):
    return {"model": model_folder(backbone)} if rule_params.is_tiny(config, backbone) else {}


def train_inputs(wildcards):
    return {"mix": train_mix(wildcards.task, wildcards.mix), **_tiny_model_input(wildcards.backbone)}


def merge_inputs(wildcards):
    return {
        "adapter": adapter_folder(wildcards.task, wildcards.backbone, wildcards.mix),
        **_tiny_model_input(wildcards.backbone),
    }


def train_settings(wildcards):
    """The resolved training settings as canonical JSON (a param: a change retrains)."""
    try:
        return rule_params.train_settings_json(config, wildcards.backbone, wildcards.task)
    except ConfigError as exc:
        config_exit(exc)


def train_checkpoints(wildcards):
    """Passed to `lema train --checkpoints` explicitly (its default spells no path)."""
    return checkpoints_folder(wildcards.task, wildcards.backbone, wildcards.mix)


# Default resources; profiles and --set-resources override them (runtime in minutes).
def train_gpus(wildcards):
    return rule_params.train_gpus(config, wildcards.backbone)


def train_mem_mb(wildcards):
    return rule_params.train_mem_mb(config, wildcards.backbone)


def merge_mem_mb(wildcards):
    return rule_params.merge_mem_mb(config, wildcards.backbone)


def train_runtime(wildcards):
    return rule_params.train_runtime(config, wildcards.backbone)


def train_launcher(wildcards, resources):
    return rule_params.train_launcher(int(resources.get("gpu", 0) or 0))


# --- evaluate (rules/evaluate.smk) ---------------------------------------------------------
def predict_inputs(wildcards):
    inputs = {"test": raw_table(wildcards.task, "test")}
    if rule_params.predict_reads_adapter(config):  # in-process, or a server the job starts
        if wildcards.mix != "base":
            inputs["adapter"] = adapter_folder(wildcards.task, wildcards.backbone, wildcards.mix)
        inputs.update(_tiny_model_input(wildcards.backbone))
    return inputs


def predict_benchmark_inputs(wildcards):
    """predict_inputs, with the benchmark's test table as the test set."""
    return {**predict_inputs(wildcards), "test": raw_table(wildcards.benchmark, "test")}


def predict_spec(wildcards):
    """The decoding model spec as canonical JSON (a param: a change re-decodes)."""
    try:
        return rule_params.predict_spec_json(
            config, wildcards.task, wildcards.backbone, wildcards.mix
        )
    except ConfigError as exc:
        config_exit(exc)


def predict_max_tokens(wildcards):
    return per_task(config["evaluation"]["max_tokens"], wildcards.task, config)


def predict_limit(wildcards):
    """`--limit N`, or nothing for the whole test set."""
    return rule_params.cap_arg("--limit", config["evaluation"]["limit"])


def eval_model_id(wildcards):
    """The backbone's model id, recorded in metrics.json (matches the paper's backbones)."""
    return rule_params.base_model(config, wildcards.backbone)


def predict_gpus(wildcards):
    return rule_params.predict_gpus(config, wildcards.backbone)


def predict_mem_mb(wildcards):
    return rule_params.predict_mem_mb(config, wildcards.backbone)


def predict_runtime(wildcards):
    return rule_params.predict_runtime(config, wildcards.backbone)


# --- report (rules/report.smk) -------------------------------------------------------------
def metrics_files():
    """Every metrics.json of the study: task x backbone x evaluation mix."""
    return [metrics_file(t, b, m) for t in TASKS for b in BACKBONES for m in EVAL_MIXES]


def benchmark_metrics_files():
    """Every evaluation-only benchmark's metrics.json: task x backbone x evaluation mix x
    each of the task's benchmarks (evaluation.benchmarks), for the mixes in
    evaluation.benchmark_mixes."""
    return [
        benchmark_metrics(t, b, m, bench)
        for t in TASKS
        for b in BACKBONES
        for m in rule_params.benchmark_mixes(config)
        for bench in TASK_BENCHMARKS[t]
    ]


def summary_inputs():
    """What `lema summary` reads: every metrics.json and the predictions beside it (per-problem
    outcomes for the paired tests), and the benchmarks' metrics.json (their columns)."""
    return [
        f
        for t in TASKS
        for b in BACKBONES
        for m in EVAL_MIXES
        for f in (metrics_file(t, b, m), predictions_table(t, b, m))
    ] + benchmark_metrics_files()


def size_curve_stats():
    """The stats of the size curve's mixes and of the full cot / lema mixes (their training
    rows: the size curve's x axis); nothing without mix.sizes."""
    if not SIZE_MIXES:
        return []
    mixes = SIZE_MIXES + [m for m in ("cot", "lema") if m in TRAIN_MIXES]
    return [stats_file(train_mix(t, m)) for t in TASKS for m in mixes]


def report_plots():
    """The plot rule's outputs, tagged for the report."""
    captions = {
        "accuracy": "../report/accuracy.rst",
        "levels": "../report/levels.rst",
        "size_curve": "../report/size_curve.rst",
    }
    names = {
        "accuracy": "2. pass@1 by backbone and mix",
        "levels": "3. MATH pass@1 by level",
        "size_curve": "5. pass@1 by training-set size",
    }
    return {
        k: report(v, caption=captions[k], category="1. Results", labels={"name": names[k]})
        for k, v in plot_files(TASKS, bool(SIZE_MIXES)).items()
    }


def plot_extra_args(wildcards, output):
    """--levels (MATH studied) and --size-curve (mix.sizes set) for `lema plot`."""
    args = [f"--levels {output.levels}"] if "levels" in output.keys() else []
    if "size_curve" in output.keys():
        args.append(f"--size-curve {output.size_curve}")
    return " ".join(args)


def corrections_inputs():
    """Every corrections table (training and evolved questions, each generator)."""
    return [gen_table(t, q, "corrections", g) for t in TASKS for q in qsets(t) for g in GENERATORS]


# --- targets (rule all) --------------------------------------------------------------------
def all_targets():
    """Everything `snakemake` builds by default, in the order the data flows."""
    targets = [raw_table(t, s) for t in TASKS for s in SPLITS]
    targets += mix_targets() + [FUNNEL_TXT]
    targets += [adapter_folder(t, b, m) for t in TASKS for b in BACKBONES for m in TRAIN_MIXES]
    plots = plot_files(TASKS, bool(SIZE_MIXES)).values()
    targets += metrics_files() + benchmark_metrics_files() + [SUMMARY_CSV, SUMMARY_MD, *plots]
    targets += [SUMMARY_HTML, FUNNEL_HTML, CORRECTIONS_HTML]
    return targets
