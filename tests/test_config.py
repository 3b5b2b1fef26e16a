"""Config validation (lema/config/ + lema/config/config.schema.yaml): config.yaml is valid,
defaults are filled in, and every wrong or unknown key fails with one line naming the key and
what was expected — in Python, in `lema check-config` and when the Snakefile loads."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lema.config import backbone_training, load_config, load_schema, validate_config
from lema.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
STUDY = yaml.safe_load((ROOT / "config.yaml").read_text())


def study() -> dict:
    return copy.deepcopy(STUDY)


def error_of(config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def test_study_config_is_valid_and_gets_defaults():
    config = validate_config(study())
    assert config["tasks"] == ["gsm8k", "math"]
    assert len(config["generators"]) == 5
    assert len(config["backbones"]) >= 5
    assert config["mixes"] == [
        "cot", "lema", "cot_matched", "lema_no_explanation", "lema_no_evolution"
    ]  # fmt: skip
    assert config["mix"]["sizes"] == [1000, 2000, 4000, 8000]
    assert config["cot"]["augment_paths"] == "auto"
    # defaults from the schema, for keys config.yaml leaves out
    assert config["sampling"]["seed"] == 0
    assert config["training"]["logging_steps"] == 10
    assert config["models"]["gpt-4"]["timeout_s"] == 120


def test_paper_values():
    config = validate_config(study())
    t = config["training"]
    assert t["lora"] == {"r": 64, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"}
    assert t["max_grad_norm"] == 0.3
    limits = {"gsm8k": 512, "math": 768, "csqa": 512}
    assert t["max_prompt_tokens"] == t["max_completion_tokens"] == limits
    assert config["corrector"] == "gpt-4"
    small = backbone_training(config, "llama2-7b", "gsm8k")
    large = backbone_training(config, "llama2-70b", "math")
    assert small["learning_rate"] == 2e-4 and small["max_prompt_tokens"] == 512
    assert large["learning_rate"] == 1e-4 and large["max_prompt_tokens"] == 768


# microsoft/LEMA training_code/llama_2_70b_gsm8k.sh (values; MATH's from its comments), on the
# official 4 GPUs: per device x accumulation x GPUs = 96.
OFFICIAL = {
    "gsm8k": {"per_device": 6, "accumulation": 4, "source": 512, "target": 512},
    "math": {"per_device": 3, "accumulation": 8, "source": 768, "target": 768},
}


@pytest.mark.parametrize("task", ["gsm8k", "math"])
@pytest.mark.parametrize("backbone", ["llama2-7b", "llama2-70b"])
def test_study_defaults_are_the_official_recipe(task, backbone):
    from lema.training.settings import resolve_runtime, sft_arguments, validate_settings

    config = validate_config(study())
    s = validate_settings(backbone_training(config, backbone, task), backbone)
    official = OFFICIAL[task]
    assert s["max_steps"] == 1000 and s["batch_size"] == 96
    assert s["per_device_batch_size"] == official["per_device"]
    assert s["max_prompt_tokens"] == official["source"]
    assert s["max_completion_tokens"] == official["target"]
    assert s["learning_rate"] == (1e-4 if backbone == "llama2-70b" else 2e-4)
    assert (s["lr_scheduler"], s["warmup_ratio"]) == ("constant", 0.0)
    assert (s["weight_decay"], s["adam_beta2"], s["max_grad_norm"]) == (0.01, 0.999, 0.3)
    assert (s["seed"], s["data_seed"]) == (0, 42)
    assert (s["optimizer"], s["group_by_length"], s["gradient_checkpointing"]) == (
        "paged_adamw_32bit",
        True,
        True,
    )
    assert s["lora"] == {"r": 64, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"}
    four = resolve_runtime(s, 4, cuda=False)
    assert four["gradient_accumulation_steps"] == official["accumulation"]
    one = resolve_runtime(s, 1, cuda=False)  # one GPU: more accumulation, the same batch
    assert one["gradient_accumulation_steps"] == 4 * official["accumulation"]
    assert four["effective_batch_size"] == one["effective_batch_size"] == 96
    args = sft_arguments(s, four, Path("ckpt"), cuda=False)
    assert (args["max_steps"], args["weight_decay"], args["adam_beta2"]) == (1000, 0.01, 0.999)
    assert (args["warmup_steps"], args["seed"], args["data_seed"]) == (0.0, 0, 42)
    assert args["max_length"] is None  # lema limits prompt and completion itself


def test_every_recipe_value_is_overridable_per_backbone():
    config = study()
    config["backbones"]["llama2-7b"]["training"] = {
        "max_steps": None,
        "epochs": 2,
        "per_device_batch_size": 4,
        "max_prompt_tokens": {"math": 1024},
        "max_completion_tokens": 640,
        "warmup_ratio": 0.03,
        "weight_decay": 0.0,
        "adam_beta2": 0.95,
        "seed": 7,
        "data_seed": 8,
    }
    validate_config(config)
    s = backbone_training(config, "llama2-7b", "math")
    assert (s["max_steps"], s["epochs"], s["per_device_batch_size"]) == (None, 2, 4)
    assert (s["max_prompt_tokens"], s["max_completion_tokens"]) == (1024, 640)
    assert (s["warmup_ratio"], s["weight_decay"], s["adam_beta2"]) == (0.03, 0.0, 0.95)
    assert (s["seed"], s["data_seed"]) == (7, 8)
    assert backbone_training(config, "llama2-7b", "gsm8k")["max_prompt_tokens"] == 512
    other = backbone_training(config, "llama2-13b", "math")
    assert (other["max_steps"], other["per_device_batch_size"], other["seed"]) == (1000, 3, 0)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"adam_beta2": 1.0}, "adam_beta2"),
        ({"warmup_ratio": 1.5}, "warmup_ratio"),
        ({"max_steps": 0}, "max_steps"),
        ({"data_seed": "x"}, "data_seed"),
        ({"max_prompt_tokens": {"gsm8k": 0}}, "max_prompt_tokens"),
        ({"max_completion_tokens": {"mmlu": 5}}, "max_completion_tokens"),
        ({"per_device_batch_size": 2.5}, "per_device_batch_size"),
    ],
)
def test_bad_recipe_value_names_the_key(override, key):
    config = study()
    config["backbones"]["llama2-7b"]["training"] = override
    message = error_of(config)
    assert f"'backbones.llama2-7b.training.{key}" in message, message


def test_batch_size_that_the_gpus_do_not_divide_is_one_clear_error():
    from lema.training.settings import resolve_runtime, validate_settings

    config = validate_config(study())
    s = validate_settings(backbone_training(config, "llama2-70b", "gsm8k"), "llama2-70b")
    with pytest.raises(ConfigError) as info:
        resolve_runtime(s, 5, cuda=False, backbone="llama2-70b")
    message = str(info.value)
    assert "\n" not in message and "'batch_size'" in message and "llama2-70b" in message
    assert "6 x 5 = 30" in message


def test_minimal_config_gets_every_default():
    config = validate_config(
        {
            "generators": ["g"],
            "corrector": "gold",
            "models": {"g": {"backend": "file", "path": "x"}},
            "backbones": {"b": {"tiny": True}},
        }
    )
    defaults = validate_config(study())
    # the paper study opts into the ablations (off by default: each is an adapter per
    # backbone and task): the mixes, the data-size curve and their evaluation
    assert config["mixes"] == ["cot", "lema", "cot_matched"] and config["mix"]["sizes"] == []
    assert config["evaluation"]["mixes"] == ["base", "cot", "lema", "cot_matched"]
    for key in ("mixes", "mix.sizes", "evaluation.mixes"):
        *parents, leaf = key.split(".")
        for c in (config, defaults):
            section = c
            for p in parents:
                section = section[p]
            section.pop(leaf)
    for section in (
        "data",
        "sampling",
        "correction",
        "evolution",
        "cot",
        "mix",
        "training",
        "evaluation",
    ):
        if section == "evaluation":
            # the one study setting that is not the default: the evaluation-only benchmarks
            # are opt-in (they are downloaded; the demo's embedded data has none)
            assert config[section].pop("benchmarks") == {"gsm8k": [], "math": [], "csqa": []}
            assert defaults[section].pop("benchmarks")["gsm8k"] == ["svamp", "asdiv", "mawps"]
        assert config[section] == defaults[section], section


@pytest.mark.parametrize(
    "mutate, key, hint",
    [
        (lambda c: c.update(sampling_k=4), "'sampling_k'", "allowed: backbones"),
        (lambda c: c["sampling"].update(kk=4), "'sampling.kk'", "allowed under 'sampling'"),
        (lambda c: c["training"]["lora"].update(rank=8), "'training.lora.rank'", "alpha"),
        (
            lambda c: c["models"]["gpt-4"].update(temprature=0),
            "'models.gpt-4.temprature'",
            "backend",
        ),
        (lambda c: c["backbones"]["llama2-7b"].update(lr=1), "'backbones.llama2-7b.lr'", "size_b"),
        (
            lambda c: c["backbones"]["llama2-7b"].update(training={"lr": 1}),
            "'backbones.llama2-7b.training.lr'",
            "learning_rate",
        ),
        (
            lambda c: c["sampling"].update(max_tokens={"gsm8k": 5, "maths": 5}),
            "'sampling.max_tokens.maths'",
            "gsm8k, math",
        ),
        (lambda c: c["data"].update(limits={"train": 5}), "'data.limits'", "limit"),
    ],
)
def test_unknown_key_is_named(mutate, key, hint):
    config = study()
    mutate(config)
    message = error_of(config)
    assert message.startswith("unknown config key"), message
    assert key in message and hint in message, message


def test_several_unknown_keys_are_all_named():
    config = study()
    config["sampling"].update(kk=1, zz=2)
    message = error_of(config)
    assert "'sampling.kk'" in message and "'sampling.zz'" in message


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (
            lambda c: c["sampling"].update(k="four"),
            "config key 'sampling.k': expected an integer, got 'four'",
        ),
        (
            lambda c: c["sampling"].update(k=4.0),
            "config key 'sampling.k': expected an integer, got 4.0",
        ),
        (
            lambda c: c["sampling"].update(k=True),
            "config key 'sampling.k': expected an integer, got true",
        ),
        (
            lambda c: c.update(tasks=["gsm8k", "mat"]),
            "config key 'tasks[1]': expected one of 'gsm8k', 'math', 'csqa', got 'mat'",
        ),
        (
            lambda c: c["training"].update(quantization="int4"),
            "config key 'training.quantization': expected one of 'auto', 'nf4', 'none', got 'int4'",
        ),
        (lambda c: c.pop("generators"), "config key 'generators' is required but missing"),
        (
            lambda c: c["models"].update(x={"model": "m"}),
            "config key 'models.x.backend' is required but missing",
        ),
        (lambda c: c["sampling"].update(temperature=-1), "config key 'sampling.temperature'"),
        (lambda c: c.update(sampling=None), "config key 'sampling': expected a mapping"),
        (lambda c: c["data"].update(limit={"train": 0}), "config key 'data.limit.train'"),
        (
            lambda c: c["backbones"]["llama2-7b"].update(tiny="big"),
            "config key 'backbones.llama2-7b.tiny': expected true or false or a mapping",
        ),
        (
            lambda c: c["backbones"]["llama2-7b"].update(training={"epochs": "three"}),
            "config key 'backbones.llama2-7b.training.epochs': expected a number, got 'three'",
        ),
        (
            lambda c: c.update(generators=["gpt-5"]),
            "config key 'generators[0]': model 'gpt-5' is not defined under 'models'",
        ),
        (
            lambda c: c.update(corrector="claude"),
            "config key 'corrector': model 'claude' is not defined under 'models'",
        ),
        (
            lambda c: c["data"].update(source="local"),
            "config key 'data.local.gsm8k': a path is required",
        ),
        (lambda c: c.update(backbones={}), "config key 'backbones'"),
        (
            lambda c: c["evaluation"].update(samples=0),
            "config key 'evaluation.samples': 0 is less than the minimum of 1",
        ),
        (
            lambda c: c["evaluation"].update(samples="four"),
            "config key 'evaluation.samples': expected an integer, got 'four'",
        ),
        (
            lambda c: c["evaluation"].update(temperature=0),
            "config key 'evaluation.temperature': 0",
        ),
        (lambda c: c["evaluation"].update(top_p=1.5), "config key 'evaluation.top_p': 1.5"),
        (
            lambda c: c["evaluation"].update(seed="x"),
            "config key 'evaluation.seed': expected an integer (or null), got 'x'",
        ),
    ],
)
def test_wrong_value_names_key_and_expectation(mutate, expected):
    config = study()
    mutate(config)
    assert error_of(config).startswith(expected)


def test_strings_from_snakemake_config_option_are_read_as_yaml():
    """`snakemake --config data='{limit: {train: 5}}'` passes nested values as strings."""
    config = study()
    config["data"] = {
        "source": "local",
        "local": {"gsm8k": "a", "math": "b"},
        "limit": {"train": "5", "test": "null"},
    }
    config["sampling"]["temperature"] = "0.5"
    config["evolution"]["enabled"] = "false"
    config["backbones"]["llama2-7b"]["training"] = {"epochs": "2"}
    validate_config(config)
    assert config["data"]["limit"] == {"train": 5, "test": None}
    assert config["sampling"]["temperature"] == 0.5
    assert config["evolution"]["enabled"] is False
    assert config["backbones"]["llama2-7b"]["training"] == {"epochs": 2}
    config["sampling"]["k"] = "4.5"
    assert error_of(config) == "config key 'sampling.k': expected an integer, got '4.5'"


def test_backbone_overrides_keep_global_settings():
    """A per-backbone `training` block overrides only what it names: it gets no defaults
    of its own that would silently replace the global settings."""
    config = study()
    config["training"]["epochs"] = 5
    config["training"]["lora"]["alpha"] = 32
    config["backbones"]["llama2-7b"]["training"] = {"lora": {"r": 8}, "learning_rate": 3e-4}
    validate_config(config)
    assert config["backbones"]["llama2-7b"]["training"] == {"lora": {"r": 8}, "learning_rate": 3e-4}
    settings = backbone_training(config, "llama2-7b", "math")
    assert settings["epochs"] == 5
    assert settings["lora"]["r"] == 8 and settings["lora"]["alpha"] == 32
    assert settings["learning_rate"] == 3e-4
    assert backbone_training(config, "llama2-13b", "math")["lora"]["r"] == 64


def test_every_schema_default_is_valid():
    """Defaults are filled in without being validated again: each must pass its own schema."""
    import jsonschema

    schema = load_schema()
    resolver_root = {"definitions": schema["definitions"]}

    def walk(node, path):
        if isinstance(node, dict):
            if "default" in node:
                sub = {k: v for k, v in node.items() if k != "default"}
                jsonschema.Draft202012Validator({**sub, **resolver_root}).validate(node["default"])
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(schema, "schema")


def test_load_config_reports_file_problems(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [gsm8k\nsampling: {k: 4}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: not valid YAML"):
        load_config(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(listing)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_load_config_overrides_merge_then_validate(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(study()))
    config = load_config(path, {"data": {"limit": {"train": 5}}})
    assert config["data"]["limit"] == {"train": 5, "test": None}
    assert config["data"]["source"] == "public"
    with pytest.raises(ConfigError, match="'data.limit.train'"):
        load_config(path, {"data": {"limit": {"train": "five"}}})


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_check_config_command(tmp_path):
    config = study()
    config["evaluation"]["batchsize"] = 8
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [sys.executable, "-m", "lema.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "'evaluation.batchsize'" in lines[0], proc.stderr


def test_snakefile_rejects_unknown_key_in_one_line(tmp_path):
    config = study()
    config["sampling"]["temprature"] = 0.5
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--cores",
            "1",
            "--configfile",
            str(path),
            "--directory",
            str(tmp_path),
            "--snakefile",
            str(ROOT / "Snakefile"),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode != 0
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if "config error" in line]
    assert len(errors) == 1, proc.stdout + proc.stderr
    assert "'sampling.temprature'" in errors[0]


def test_a_task_defined_in_config_is_accepted_and_registered():
    from lema.tasks import known_tasks, task_kind

    config = study()
    config["tasks"] = ["gsm8k", "mytask"]
    config["tasks_defined"] = {
        "mytask": {"train": "a.jsonl", "test": "b.jsonl", "question": "q", "answer": "a"}
    }
    validate_config(config)
    assert config["tasks_defined"]["mytask"]["answer_type"] == "numeric"  # the default
    assert known_tasks(config) == ["gsm8k", "math", "csqa", "mytask"]
    assert task_kind("mytask", config) == "gsm8k" and task_kind("math", config) == "math"


def test_an_undefined_task_or_a_bad_definition_fails_in_one_line():
    config = study()
    config["tasks"] = ["gsm8k", "mytask"]
    assert error_of(config).startswith(
        "config key 'tasks[1]': expected one of 'gsm8k', 'math', 'csqa', got 'mytask'"
    )
    config = study()
    config["tasks_defined"] = {"math": {"train": "a", "test": "b", "question": "q", "answer": "a"}}
    assert error_of(config).startswith("config key 'tasks_defined.math': 'math' is a built-in")
    config = study()
    config["tasks_defined"] = {"svamp": {"train": "a", "test": "b", "question": "q", "answer": "a"}}
    assert error_of(config).startswith("config key 'tasks_defined.svamp': 'svamp' is an eval")
    config = study()
    config["tasks_defined"] = {"mine": {"train": "a", "test": "b", "question": "q"}}
    assert error_of(config).startswith("config key 'tasks_defined.mine.answer' is required")
    # a choice task needs the field holding its candidates; it then follows csqa
    for answer_type, choices, accepted in (
        ("latex", None, True),
        ("numeric", None, True),
        ("choice", None, False),
        ("choice", "options", True),
    ):
        config = study()
        config["tasks_defined"] = {
            "mine": {"train": "a", "test": "b", "question": "q", "answer": "a"}
        }
        config["tasks_defined"]["mine"].update(answer_type=answer_type, choices=choices)
        if accepted:
            validate_config(config)
        else:
            assert error_of(config).startswith(
                "config key 'tasks_defined.mine.choices': required for answer_type 'choice'"
            )
    from lema.tasks import task_kind

    assert task_kind("mine", config) == "csqa"


# --------------------------------------------------------------- csqa, and one corrector per task
def _with(config: dict, **keys) -> dict:
    out = copy.deepcopy(config)
    out.update(keys)
    return out


def test_a_corrector_per_task_with_a_default():
    from lema.config.load import corrector_of

    config = validate_config(
        _with(
            study(), tasks=["gsm8k", "math", "csqa"], corrector={"default": "gold", "csqa": "gpt-4"}
        )
    )
    assert [corrector_of(config, t) for t in ("gsm8k", "math", "csqa")] == ["gold", "gold", "gpt-4"]
    one = validate_config(_with(study(), tasks=["gsm8k", "csqa"]))
    assert corrector_of(one, "csqa") == corrector_of(one, "gsm8k") == "gpt-4"


@pytest.mark.parametrize(
    ("corrector", "key", "words"),
    [
        ("gold", "'corrector'", "the gold corrector cannot correct task 'csqa'"),
        ({"default": "gold"}, "'corrector.default'", "the gold corrector cannot correct task"),
        ({"default": "nope"}, "'corrector.default'", "model 'nope' is not defined"),
        ({"default": "gold", "csqa": "gold"}, "'corrector.csqa'", "cannot correct task 'csqa'"),
        ({"gsm8k": "gold"}, "'corrector.csqa'", "no corrector for task 'csqa'"),
        ({"default": "gold", "csqa": "nope"}, "'corrector.csqa'", "model 'nope' is not defined"),
        ({"default": "gpt-4", "svamp": "gold"}, "'corrector.svamp'", "not a task"),
    ],
)
def test_a_wrong_corrector_for_a_task_fails_in_one_line_naming_the_key(corrector, key, words):
    with pytest.raises(ConfigError) as info:
        validate_config(_with(study(), tasks=["gsm8k", "csqa"], corrector=corrector))
    message = str(info.value)
    assert "\n" not in message and key in message and words in message, message


def test_csqa_without_corrector_paths_has_no_cot_data_and_is_refused():
    config = _with(study(), tasks=["gsm8k", "csqa"])
    config["cot"] = {**config["cot"], "corrector_paths": 0}
    message = error_of(config)
    assert message.startswith("config key 'cot.corrector_paths': 0 leaves task 'csqa'"), message
    config["tasks"] = ["gsm8k", "math"]
    assert validate_config(config)["cot"]["corrector_paths"] == 0  # gold CoT rows there


def test_the_gold_corrector_still_corrects_gsm8k_and_math_alone():
    config = validate_config(_with(study(), tasks=["gsm8k", "math"], corrector="gold"))
    assert config["corrector"] == "gold"


def test_a_per_task_map_without_the_added_task_names_its_key():
    """A config written for gsm8k and math, with csqa added to `tasks`: the maps it wrote
    itself lack csqa; the schema's defaults have it."""
    config = _with(study(), tasks=["gsm8k", "math", "csqa"])
    config["sampling"] = {**config["sampling"], "max_tokens": {"gsm8k": 512, "math": 768}}
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    message = str(info.value)
    assert message.startswith("config key 'sampling.max_tokens.csqa': missing"), message
    assert "add an entry for csqa" in message
    config["sampling"]["max_tokens"]["csqa"] = 256
    assert validate_config(config)["sampling"]["max_tokens"]["csqa"] == 256
    bare = {k: v for k, v in study().items() if k not in ("sampling", "correction", "cot")}
    filled = validate_config(_with(bare, tasks=["csqa"]))
    assert filled["correction"]["prompt"]["csqa"] == "correct_csqa.txt"
    assert filled["cot"]["prompt"]["csqa"] == "cot_csqa.txt"
