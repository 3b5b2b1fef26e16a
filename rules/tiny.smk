# rules/tiny.smk — tiny local models (README: "Tiny models"): for every `models` or
# `backbones` entry with `tiny:` set, results/models/{name}/ is a random-init LLaMA-architecture
# model with a byte-level BPE tokenizer trained on the raw training text — a normal Hugging Face
# folder, built offline in seconds. The logic lives in lema/models/tiny.py (`lema tiny-model`).
# Editing an entry's `tiny:` settings rebuilds that model (params), and everything downstream.
# With `tiny.warmup_steps`, the model is first trained on gold solutions of the warm-up rows
# (rules/data.smk: data/warmup/{task}.parquet), so that it writes step-format paths.

if TINY_MODELS:

    rule tiny_model:
        wildcard_constraints:
            name=TINY_MODEL_PATTERN,
        input:
            unpack(tiny_model_inputs),
        output:
            directory(model_folder("{name}")),
        params:
            args=tiny_model_args,
        log:
            "logs/models/{name}.log",
        conda:
            "../envs/generate.yaml"
        shell:
            "lema tiny-model --out {output:q} {params.args} {input.texts:q} > {log:q} 2>&1"
