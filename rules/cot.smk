# rules/cot.smk — step 5: CoT data — gold solutions in the step format plus corrector-written
# paths that reach the gold answer. Logic: lema/datagen/cot.py (`lema cot`).


rule cot:
    input:
        unpack(cot_inputs),
    output:
        cot=cot_table("{task}"),
        stats=stats_file(cot_table("{task}")),
    params:
        spec=corrector_spec,
        prompt=lambda wc: prompt_name("cot", wc.task),
        prompt_sha256=lambda wc: prompt_sha256("cot", wc.task),
        n=config["cot"]["corrector_paths"],
        temperature=config["cot"]["temperature"],
        max_tokens=config["cot"]["max_tokens"],
        seed=config["cot"]["seed"],
    resources:
        gpu=corrector_gpus,
    log:
        "logs/cot/{task}.log",
    benchmark:
        "benchmarks/runs/cot/{task}.tsv"
    conda:
        "../envs/generate.yaml"
    shell:
        "lema cot --task {wildcards.task} --questions {input.questions:q} --spec {params.spec:q}"
        " --n {params.n} --prompt {params.prompt:q} --temperature {params.temperature}"
        " --max-tokens {params.max_tokens} --seed {params.seed} --operational \"$LEMA_OPERATIONAL\""
        " --output {output.cot:q} --stats {output.stats:q} > {log:q} 2>&1"


# The paper's CoT data augmentation, for the size-matched mix: after the pool (so |lema| and
# the decontaminated questions are known), more corrector paths per question, samples n, n+1,
# ... of the CoT stage's own requests (samples 0..n-1 are response-cache hits). Logic:
# lema/datagen/cot.py (`lema cot-augment`).
rule cot_augment:
    input:
        unpack(augment_inputs),
    output:
        cot=cot_augmented_table("{task}"),
        stats=stats_file(cot_augmented_table("{task}")),
    params:
        spec=corrector_spec,
        prompt=lambda wc: prompt_name("cot", wc.task),
        prompt_sha256=lambda wc: prompt_sha256("cot", wc.task),
        augment=augment_args(),
        temperature=config["cot"]["temperature"],
        max_tokens=config["cot"]["max_tokens"],
        seed=config["cot"]["seed"],
    resources:
        gpu=corrector_gpus,
    log:
        "logs/cot_augment/{task}.log",
    benchmark:
        "benchmarks/runs/cot_augment/{task}.tsv"
    conda:
        "../envs/generate.yaml"
    shell:
        "lema cot-augment --task {wildcards.task} --cot {input.cot:q} --pool {input.pool:q}"
        " --spec {params.spec:q} {params.augment} --prompt {params.prompt:q}"
        " --temperature {params.temperature} --max-tokens {params.max_tokens} --seed {params.seed}"
        " --operational \"$LEMA_OPERATIONAL\" --output {output.cot:q} --stats {output.stats:q}"
        " > {log:q} 2>&1"
