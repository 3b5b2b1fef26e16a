# rules/train.smk — fine-tuning (README: "Training"): one LoRA / QLoRA adapter per
# backbone x task x mix, results/{task}/adapters/{backbone}/{mix}/ (adapter, settings.json,
# metrics.json). The logic lives in lema/training/ (`lema train`: run.py; `lema merge`:
# merge.py); these rules only wire paths, settings and resources.
#
# - params.settings is the fully resolved training config of the backbone (per-backbone
#   overrides, the paper's size-based LR), so editing any training setting retrains exactly the
#   adapters it changes.
# - Intermediate checkpoints go to results/{task}/checkpoints/{backbone}/{mix}/, which is not an
#   output: Snakemake does not delete it when a job fails or is killed (SLURM time limit,
#   pre-emption), and the rerun resumes from the last checkpoint. It is removed after success.
#   On SIGTERM (SLURM's notice before a time limit) `lema train` checkpoints the current step
#   and exits non-zero, so nothing finished is lost.
# - resources.gpu > 1 launches through `accelerate launch --num_processes {gpu}`
#   (e.g. `--set-resources train:gpu=4`); 0 or 1 runs `lema` directly.


rule train:
    wildcard_constraints:
        backbone=BACKBONE_PATTERN,
        mix="[^/]+",
    input:
        unpack(train_inputs),
    output:
        directory(adapter_folder("{task}", "{backbone}", "{mix}")),
    params:
        settings=train_settings,
        model=train_model,
        checkpoints=train_checkpoints,
        launcher=train_launcher,
    resources:
        gpu=train_gpus,
        mem_mb=train_mem_mb,
        runtime=train_runtime,
    threads: 4
    log:
        "logs/train/{task}/{backbone}/{mix}.log",
    benchmark:
        "results/{task}/benchmarks/train/{backbone}/{mix}.tsv"
    conda:
        "../envs/train.yaml"
    shell:
        "OMP_NUM_THREADS={threads} {params.launcher} train"
        " --task {wildcards.task:q} --backbone {wildcards.backbone:q}"
        " --model {params.model:q} --mix {input.mix:q} --settings {params.settings:q}"
        " --checkpoints {params.checkpoints:q} --out {output:q} > {log:q} 2>&1"


# Optional target (not in `all`): the adapter merged into its base model, for serving.
rule merge:
    wildcard_constraints:
        backbone=BACKBONE_PATTERN,
        mix="[^/]+",
    input:
        unpack(merge_inputs),
    output:
        directory(merged_folder("{task}", "{backbone}", "{mix}")),
    params:
        model=train_model,
    resources:
        mem_mb=merge_mem_mb,
    log:
        "logs/merge/{task}/{backbone}/{mix}.log",
    conda:
        "../envs/train.yaml"
    shell:
        "lema merge --adapter {input.adapter:q} --model {params.model:q} --out {output:q}"
        " > {log:q} 2>&1"
