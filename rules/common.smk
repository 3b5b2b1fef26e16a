# Config validation and the path scheme shared by every stage. No rule logic lives here.
import os
import sys

from lema.config import SCHEMA_PATH, validate_config
from lema.errors import ConfigError

try:
    validate_config(config)
except ConfigError as exc:
    sys.exit(f"lema: config error: {exc}")
validate(config, str(SCHEMA_PATH))

# envs/*.post-deploy.sh install this checkout's `lema` into conda envs from here.
os.environ.setdefault("LEMA_ROOT", workflow.basedir)

TASKS = config["tasks"]
SPLITS = ["train", "test"]


wildcard_constraints:
    task="gsm8k|math",
    split="train|test",


def raw_table(task, split):
    return f"data/raw/{task}/{split}.parquet"


def all_targets():
    """Everything `snakemake` builds by default: each stage adds its final outputs here."""
    targets = [raw_table(t, s) for t in TASKS for s in SPLITS]
    targets += data_generation_targets()
    targets += adapter_targets()
    targets += evaluation_targets()
    return targets


# --- training (rules/train.smk) ------------------------------------------------------------
import json
import re

from lema.config import backbone_training

BACKBONES = list(config["backbones"])
# only configured backbones match, so an unknown one fails as "no rule to produce" its path
BACKBONE_PATTERN = "|".join(re.escape(b) for b in sorted(BACKBONES, key=len, reverse=True))
TRAIN_MIXES = list(config["mixes"])


def model_folder(name):
    """Where rules/tiny.smk builds the tiny local model called `name`."""
    return f"results/models/{name}"


def train_mix(task, mix):
    return f"results/{task}/train/{mix}.jsonl"


def adapter_folder(task, backbone, mix):
    return f"results/{task}/adapters/{backbone}/{mix}"


def adapter_targets():
    return [adapter_folder(t, b, m) for t in TASKS for b in BACKBONES for m in TRAIN_MIXES]


def _backbone(name):
    if name not in config["backbones"]:
        raise ValueError(f"backbone '{name}' is not defined under 'backbones'")
    return config["backbones"][name]


def _is_tiny(name):
    return bool(_backbone(name).get("tiny"))


def train_model(wildcards):
    """The base model: the local folder of a tiny backbone, else its HF id or folder."""
    b = wildcards.backbone
    return model_folder(b) if _is_tiny(b) else _backbone(b)["model"]


def train_inputs(wildcards):
    inputs = {"mix": train_mix(wildcards.task, wildcards.mix)}
    if _is_tiny(wildcards.backbone):
        inputs["model"] = model_folder(wildcards.backbone)
    return inputs


def merge_inputs(wildcards):
    inputs = {"adapter": adapter_folder(wildcards.task, wildcards.backbone, wildcards.mix)}
    if _is_tiny(wildcards.backbone):
        inputs["model"] = model_folder(wildcards.backbone)
    return inputs


def train_settings(wildcards):
    """The resolved training settings as canonical JSON (a param: a change retrains)."""
    try:
        settings = backbone_training(config, wildcards.backbone, wildcards.task)
    except ConfigError as exc:
        sys.exit(f"lema: config error: {exc}")
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def train_checkpoints(wildcards):
    """Intermediate checkpoints: outside the outputs, so a killed job resumes from them."""
    return f"results/{wildcards.task}/checkpoints/{wildcards.backbone}/{wildcards.mix}"


# Default resources; profiles and --set-resources override them (runtime in minutes).
def train_gpus(wildcards):
    return 0 if _is_tiny(wildcards.backbone) else 1


def train_mem_mb(wildcards):
    if _is_tiny(wildcards.backbone):
        return 4000
    return int(32000 + 1000 * _backbone(wildcards.backbone).get("size_b", 7))


def merge_mem_mb(wildcards):
    """Merging loads the unquantised base model on CPU: ~2.5 bytes per parameter in bf16."""
    if _is_tiny(wildcards.backbone):
        return 4000
    return int(16000 + 2500 * _backbone(wildcards.backbone).get("size_b", 7))


def train_runtime(wildcards):
    if _is_tiny(wildcards.backbone):
        return 60
    return 2880 if _backbone(wildcards.backbone).get("size_b", 7) >= 34 else 1440


def train_launcher(wildcards, resources):
    """`lema`, or `accelerate launch` with one process per GPU when the job has several."""
    gpus = int(resources.get("gpu", 0) or 0)
    if gpus > 1:
        return (
            f"accelerate launch --num_processes {gpus} --num_machines 1 --multi_gpu"
            " --dynamo_backend no -m lema.cli"
        )
    return "lema"


# --- evaluation and report (rules/evaluate.smk, rules/report.smk) ---------------------------
from lema.evaluation.predict import decode_spec

EVAL_MIXES = list(config["evaluation"]["mixes"])


def eval_folder(task, backbone, mix):
    return f"results/{task}/eval/{backbone}/{mix}"


def metrics_files():
    """Every metrics.json of the study: task x backbone x evaluation mix."""
    return [f"{eval_folder(t, b, m)}/metrics.json" for t in TASKS for b in BACKBONES for m in EVAL_MIXES]


def plot_outputs():
    out = {"accuracy": "results/plots/accuracy.png"}
    if "math" in TASKS:
        out["levels"] = "results/plots/math_levels.png"
    return out


def report_plots():
    """The plot rule's outputs, tagged for the report."""
    captions = {"accuracy": "../report/accuracy.rst", "levels": "../report/levels.rst"}
    names = {"accuracy": "2. pass@1 by backbone and mix", "levels": "3. MATH pass@1 by level"}
    return {
        k: report(v, caption=captions[k], category="1. Results", labels={"name": names[k]})
        for k, v in plot_outputs().items()
    }


def plot_levels_arg(wildcards, output):
    return f"--levels {output.levels}" if "levels" in output.keys() else ""


def funnel_inputs():
    """The training mixes: once they exist, every data-generation stats JSON exists."""
    return [train_mix(t, m) for t in TASKS for m in TRAIN_MIXES]


def funnel_tasks():
    return " ".join(f"--task {t}" for t in TASKS)


def corrections_inputs():
    """Every corrections table (training and evolved questions, each generator)."""
    return [gen_table(t, q, "corrections", g) for t in TASKS for q in qsets() for g in GENERATORS]


def report_targets():
    return [
        "results/report/summary.html",
        "results/report/funnel.html",
        "results/report/corrections_sample.html",
    ]


def evaluation_targets():
    return (
        metrics_files()
        + ["results/summary.csv", "results/summary.md", *plot_outputs().values()]
        + report_targets()
    )


def _eval_model(backbone):
    return model_folder(backbone) if _is_tiny(backbone) else _backbone(backbone)["model"]


def predict_inputs(wildcards):
    inputs = {"test": raw_table(wildcards.task, "test")}
    if wildcards.mix != "base" and config["evaluation"]["backend"] == "hf":
        inputs["adapter"] = adapter_folder(wildcards.task, wildcards.backbone, wildcards.mix)
    if _is_tiny(wildcards.backbone) and config["evaluation"]["backend"] == "hf":
        inputs["model"] = model_folder(wildcards.backbone)
    return inputs


def predict_spec(wildcards):
    """The decoding model spec as canonical JSON (a param: a change re-decodes)."""
    b = wildcards.backbone
    try:
        spec = decode_spec(config, wildcards.task, b, wildcards.mix, _eval_model(b))
    except ConfigError as exc:
        sys.exit(f"lema: config error: {exc}")
    return json.dumps(_result_spec(spec), sort_keys=True, separators=(",", ":"))


def predict_max_tokens(wildcards):
    return config["evaluation"]["max_tokens"][wildcards.task]


def predict_limit(wildcards):
    """`--limit N`, or nothing for the whole test set."""
    limit = config["evaluation"]["limit"]
    return f"--limit {int(limit)}" if limit else ""


def eval_model_id(wildcards):
    """The backbone's model id, recorded in metrics.json (matches the paper's backbones)."""
    return _eval_model(wildcards.backbone)


def predict_gpus(wildcards):
    if config["evaluation"]["backend"] != "hf" or _is_tiny(wildcards.backbone):
        return 0
    return 1


def predict_mem_mb(wildcards):
    if _is_tiny(wildcards.backbone) or config["evaluation"]["backend"] != "hf":
        return 4000
    return int(16000 + 2200 * _backbone(wildcards.backbone).get("size_b", 7))


def predict_runtime(wildcards):
    if _is_tiny(wildcards.backbone) or config["evaluation"]["backend"] != "hf":
        return 60
    return 1440


# --- data generation (rules/sample.smk, correct.smk, evolve.smk, cot.smk, mix.smk) ----------
# Layout (TEAM.md): results/{task}/{paths,mistakes,corrections}/{generator}.parquet for the
# training questions, the same under results/{task}/evolved/ for evolved questions (plus
# evolved/questions.parquet), results/{task}/cot/cot.parquet, results/{task}/train/pool.parquet
# (decontaminated rows) and results/{task}/train/{mix}.jsonl; a `.stats.json` beside each.
from lema.config import model_spec as _model_spec
from lema.datagen.prompts import prompt_path as _prompt_path
from lema.workflow import content_sha256 as _content_sha256
from lema.workflow import operational as _operational
from lema.workflow import result_spec as _result_spec

GENERATORS = list(config["generators"])
GENERATOR_PATTERN = "|".join(re.escape(g) for g in sorted(GENERATORS, key=len, reverse=True))
CORRECTOR = config["corrector"]


wildcard_constraints:
    generator=GENERATOR_PATTERN,


def _spec(name):
    try:
        spec = _model_spec(config, name)
    except ConfigError as exc:
        sys.exit(f"lema: config error: {exc}")
    if spec.get("tiny"):
        spec["model"] = model_folder(name)
    return spec


def model_spec_json(name):
    """A model's spec as canonical JSON, without its operational keys (lema.workflow): a
    rule param, so a spec change reruns its outputs, and a knob such as concurrency does not."""
    return json.dumps(_result_spec(_spec(name)), sort_keys=True, separators=(",", ":"))


def _all_model_specs():
    names = set(config.get("models", {})) | set(GENERATORS) | {CORRECTOR}
    return {name: _spec(name) for name in names}


# Places and knobs (cache path, model knobs, endpoints, local data folders) reach every
# command as one JSON in $LEMA_OPERATIONAL (`--operational "$LEMA_OPERATIONAL"`), never as a
# param, so changing them reruns nothing. Set here, at parse time: a cluster job parses the
# Snakefile again on its node, so it is set there too.
os.environ.update(LEMA_OPERATIONAL=_operational(config, _all_model_specs()))


def model_inputs(name):
    """The folder of a tiny local model (built by rules/tiny.smk), else nothing."""
    return [model_folder(name)] if _spec(name).get("tiny") else []


def evolution_status():
    """'enabled', or why the evolved branch is left out of the graph."""
    if not config["evolution"]["enabled"]:
        return "disabled (evolution.enabled: false)"
    if _spec(CORRECTOR)["backend"] == "gold":
        return "skipped: the gold corrector cannot write new questions"
    return "enabled"


def qsets():
    """Question sets whose mistakes are corrected: the training questions, and evolved ones."""
    return ["original", "evolved"] if evolution_status() == "enabled" else ["original"]


def gen_table(task, qset, kind, generator):
    base = f"results/{task}" if qset == "original" else f"results/{task}/evolved"
    return f"{base}/{kind}/{generator}.parquet"


def evolved_questions(task):
    return f"results/{task}/evolved/questions.parquet"


def cot_table(task):
    return f"results/{task}/cot/cot.parquet"


def prompt_name(section, task):
    """A configured prompt as written in the config (a packaged prompt's name, or the user's
    path): a stable string for the shell, whichever folder the checkout lives in."""
    prompt_sha256(section, task)  # an unknown prompt fails here, naming the key
    return config[section]["prompt"][task]


def prompt_sha256(section, task):
    """The prompt's content (a param): editing it reruns its stage; moving the checkout or
    touching the file does not."""
    try:
        return _content_sha256(_prompt_path(config[section]["prompt"][task]))
    except ConfigError as exc:
        sys.exit(f"lema: config error: {section}.prompt.{task}: {exc}")


def mix_targets():
    return [train_mix(t, m) for t in TASKS for m in TRAIN_MIXES]


# input and param functions (wildcards -> value)
def _sample_inputs(wildcards, questions):
    return {
        "questions": questions,
        "model": model_inputs(wildcards.generator),
    }


def sample_inputs(wildcards):
    return _sample_inputs(wildcards, raw_table(wildcards.task, "train"))


def sample_inputs_evolved(wildcards):
    return _sample_inputs(wildcards, evolved_questions(wildcards.task))


def generator_spec(wildcards):
    return model_spec_json(wildcards.generator)


def corrector_spec(wildcards):
    return model_spec_json(CORRECTOR)


def sample_max_tokens(wildcards):
    return config["sampling"]["max_tokens"][wildcards.task]


def max_mistakes_arg(wildcards):
    cap = config["sampling"]["max_mistakes_per_question"]
    return f"--max-per-question {int(cap)}" if cap else ""


def correct_inputs(wildcards):
    return {
        "model": model_inputs(CORRECTOR),
    }


def evolve_inputs(wildcards):
    return {
        "corrections": [gen_table(wildcards.task, "original", "corrections", g) for g in GENERATORS],
        "model": model_inputs(CORRECTOR),
    }


def max_seeds_arg(wildcards):
    cap = config["evolution"]["max_seeds"]
    return f"--max-seeds {int(cap)}" if cap else ""


def cot_inputs(wildcards):
    return {
        "questions": raw_table(wildcards.task, "train"),
        "model": model_inputs(CORRECTOR),
    }


def pool_inputs(wildcards):
    return {
        "cot": cot_table(wildcards.task),
        "corrections": [
            gen_table(wildcards.task, q, "corrections", g) for q in qsets() for g in GENERATORS
        ],
        "tests": [raw_table(t, "test") for t in TASKS],
    }


def stats_task_args():
    return " ".join(f"--task {t}" for t in TASKS)


def data_generation_targets():
    return mix_targets() + ["results/funnel.txt"]



# --- tiny local models (rules/tiny.smk) ---------------------------------------------------
def tiny_model_names():
    """Names under `models` or `backbones` with `tiny:` set: each gets results/models/{name}/."""
    names = [n for n, m in config.get("models", {}).items() if m.get("tiny")]
    names += [n for n, b in config.get("backbones", {}).items() if b.get("tiny") and n not in names]
    return names


def _tiny_entry(name):
    entry = config.get("models", {}).get(name) or config.get("backbones", {}).get(name) or {}
    return entry.get("tiny")


def tiny_model_args(wildcards):
    """`lema tiny-model` flags from the entry's `tiny:` settings (a param: a change rebuilds)."""
    from lema.models.tiny import tiny_settings

    s = tiny_settings(_tiny_entry(wildcards.name))
    args = (
        f"--hidden-size {s['hidden_size']} --layers {s['layers']} --heads {s['heads']}"
        f" --vocab-size {s['vocab_size']} --seed {s['seed']}"
    )
    if s["warmup_steps"]:
        tables = " --warmup ".join(warmup_table(t) for t in TASKS)
        args += (
            f" --warmup-steps {s['warmup_steps']} --warmup-rows {s['warmup_rows']}"
            f" --warmup {tables}"
        )
    return args


def tiny_model_texts():
    """Text the tiny tokenizers train on: the raw train tables of the configured tasks."""
    return [raw_table(t, "train") for t in TASKS]


def tiny_model_inputs(wildcards):
    """The tokenizer's text, and the warm-up tables when the entry warms up."""
    from lema.models.tiny import tiny_settings

    inputs = {"texts": tiny_model_texts()}
    if tiny_settings(_tiny_entry(wildcards.name))["warmup_steps"]:
        inputs["warmup"] = [warmup_table(t) for t in TASKS]
    return inputs


def warmup_table(task):
    return f"data/warmup/{task}.parquet"


def warmup_rows_args(wildcards):
    """`lema data` options for the warm-up rows: the training rows after data.limit.train
    (never the study's own questions), as many as the largest `tiny.warmup_rows` asks, of
    the same MATH subjects/levels."""
    from lema.data import rule_subset
    from lema.models.tiny import tiny_settings

    settings = [tiny_settings(_tiny_entry(n)) for n in tiny_model_names()]
    rows = max((s["warmup_rows"] for s in settings if s["warmup_steps"]), default=1)
    skip = config["data"]["limit"]["train"] or 0
    return ["--skip", str(skip), "--limit", str(rows)] + rule_subset(config, wildcards.task)
