# rules/mix.smk — step 6: the training mixes. `mix_pool` gathers CoT rows and kept corrections
# (original and evolved questions) and drops every row whose question matches a test question
# of any configured task (exact or near-duplicate); `mix` writes results/{task}/train/{mix}.jsonl
# (cot, lema, the ablations, the size curve's cot_nN / lema_nN); `mix_matched` writes
# cot_matched from the pool and the augmented CoT paths (rules/cot.smk: cot_augment).
# `funnel` prints the whole data-generation funnel (`lema stats`) to results/funnel.txt.
# Logic: lema/datagen/mixes.py (`lema mix-pool`, `lema mix`), lema/datagen/funnel.py (`lema stats`).


rule mix_pool:
    input:
        unpack(pool_inputs),
    output:
        pool=pool_table("{task}"),
        stats=stats_file(pool_table("{task}")),
    params:
        threshold=config["mix"]["near_duplicate_threshold"],
        ngram=config["mix"]["ngram"],
        evolution=lambda wc: evolution_status(wc.task),
    log:
        "logs/mix_pool/{task}.log",
    conda:
        "../envs/generate.yaml"
    shell:
        "lema mix-pool --task {wildcards.task} --cot {input.cot:q} --corrections {input.corrections:q}"
        " --tests {input.tests:q} --ngram {params.ngram} --threshold {params.threshold}"
        " --evolution {params.evolution:q} --output {output.pool:q} --stats {output.stats:q}"
        " > {log:q} 2>&1"


rule mix:
    input:
        pool_table("{task}"),
    output:
        mix=train_mix("{task}", "{mix}"),
        stats=stats_file(train_mix("{task}", "{mix}")),
    wildcard_constraints:
        mix=POOL_MIX_PATTERN,
    params:
        seed=config["mix"]["seed"],
    log:
        "logs/mix/{task}/{mix}.log",
    conda:
        "../envs/generate.yaml"
    shell:
        "lema mix --task {wildcards.task} --pool {input:q} --mix {wildcards.mix} --seed {params.seed}"
        " --output {output.mix:q} --stats {output.stats:q} > {log:q} 2>&1"


rule mix_matched:
    input:
        pool=pool_table("{task}"),
        augmented=cot_augmented_table("{task}"),
    output:
        mix=train_mix("{task}", "cot_matched"),
        stats=stats_file(train_mix("{task}", "cot_matched")),
    params:
        seed=config["mix"]["seed"],
    log:
        "logs/mix/{task}/cot_matched.log",
    conda:
        "../envs/generate.yaml"
    shell:
        "lema mix --task {wildcards.task} --pool {input.pool:q} --mix cot_matched"
        " --augmented {input.augmented:q} --seed {params.seed}"
        " --output {output.mix:q} --stats {output.stats:q} > {log:q} 2>&1"


rule funnel:
    input:
        mix_targets(),
    output:
        FUNNEL_TXT,
    params:
        tasks=task_args(),
    log:
        "logs/funnel.log",
    conda:
        "../envs/generate.yaml"
    shell:
        "lema stats results {params.tasks} > {output:q} 2> {log:q} && cat {output:q}"
