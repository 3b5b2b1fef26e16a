# rules/correct.smk — step 3: the corrector's corrections of each generator's mistakes, parsed
# and filtered (kept iff the final answer grades equal to the reference answer); every drop is
# recorded with its reason. Logic: lema/datagen/correction.py (`lema correct`) and
# lema/datagen/gold_corrector.py.


rule correct:
    input:
        unpack(correct_inputs),
        mistakes=gen_table("{task}", "original", "mistakes", "{generator}"),
    output:
        corrections=gen_table("{task}", "original", "corrections", "{generator}"),
        stats=stats_file(gen_table("{task}", "original", "corrections", "{generator}")),
    params:
        spec=corrector_spec,
        prompt=lambda wc: prompt_name("correction", wc.task),
        prompt_sha256=lambda wc: prompt_sha256("correction", wc.task),
        temperature=config["correction"]["temperature"],
        max_tokens=config["correction"]["max_tokens"],
        seed=config["correction"]["seed"],
    resources:
        gpu=corrector_gpus,
    log:
        "logs/correct/{task}/{generator}.log",
    benchmark:
        "benchmarks/runs/correct/{task}/{generator}.tsv"
    conda:
        "../envs/generate.yaml"
    shell:
        "lema correct --task {wildcards.task} --mistakes {input.mistakes:q} --spec {params.spec:q}"
        " --prompt {params.prompt:q} --temperature {params.temperature}"
        " --max-tokens {params.max_tokens} --seed {params.seed} --operational \"$LEMA_OPERATIONAL\""
        " --output {output.corrections:q} --stats {output.stats:q} > {log:q} 2>&1"


use rule correct as correct_evolved with:
    input:
        unpack(correct_inputs),
        mistakes=gen_table("{task}", "evolved", "mistakes", "{generator}"),
    output:
        corrections=gen_table("{task}", "evolved", "corrections", "{generator}"),
        stats=stats_file(gen_table("{task}", "evolved", "corrections", "{generator}")),
    log:
        "logs/correct/{task}/evolved/{generator}.log",
    benchmark:
        "benchmarks/runs/correct/{task}/evolved/{generator}.tsv"
