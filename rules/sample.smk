# rules/sample.smk — step 2: sampled reasoning paths and the mistakes among them, for the
# training questions (results/{task}/…) and evolved questions (results/{task}/evolved/…).
# Logic: lema/datagen/sampling.py (`lema sample`, `lema mistakes`).


rule sample_paths:
    input:
        unpack(sample_inputs),
    output:
        paths=gen_table("{task}", "original", "paths", "{generator}"),
        stats=stats_file(gen_table("{task}", "original", "paths", "{generator}")),
    params:
        spec=generator_spec,
        prompt=lambda wc: prompt_name("sampling", wc.task),
        prompt_sha256=lambda wc: prompt_sha256("sampling", wc.task),
        k=config["sampling"]["k"],
        temperature=config["sampling"]["temperature"],
        top_p=config["sampling"]["top_p"],
        max_tokens=sample_max_tokens,
        seed=config["sampling"]["seed"],
    threads: 2
    resources:
        gpu=generator_gpus,
    log:
        "logs/sample_paths/{task}/{generator}.log",
    benchmark:
        "benchmarks/runs/sample_paths/{task}/{generator}.tsv"
    conda:
        "../envs/generate.yaml"
    shell:
        "lema sample --task {wildcards.task} --questions {input.questions:q} --spec {params.spec:q}"
        " --prompt {params.prompt:q} --k {params.k} --temperature {params.temperature}"
        " --top-p {params.top_p} --max-tokens {params.max_tokens} --seed {params.seed}"
        " --operational \"$LEMA_OPERATIONAL\" --threads {threads}"
        " --output {output.paths:q} --stats {output.stats:q} > {log:q} 2>&1"


use rule sample_paths as sample_paths_evolved with:
    input:
        unpack(sample_inputs_evolved),
    output:
        paths=gen_table("{task}", "evolved", "paths", "{generator}"),
        stats=stats_file(gen_table("{task}", "evolved", "paths", "{generator}")),
    log:
        "logs/sample_paths/{task}/evolved/{generator}.log",
    benchmark:
        "benchmarks/runs/sample_paths/{task}/evolved/{generator}.tsv"


rule mistakes:
    input:
        paths=gen_table("{task}", "original", "paths", "{generator}"),
    output:
        mistakes=gen_table("{task}", "original", "mistakes", "{generator}"),
        stats=stats_file(gen_table("{task}", "original", "mistakes", "{generator}")),
    params:
        cap=max_mistakes_arg,
    log:
        "logs/mistakes/{task}/{generator}.log",
    conda:
        "../envs/generate.yaml"
    shell:
        "lema mistakes --task {wildcards.task} --paths {input.paths:q} {params.cap}"
        " --output {output.mistakes:q} --stats {output.stats:q} > {log:q} 2>&1"


use rule mistakes as mistakes_evolved with:
    input:
        paths=gen_table("{task}", "evolved", "paths", "{generator}"),
    output:
        mistakes=gen_table("{task}", "evolved", "mistakes", "{generator}"),
        stats=stats_file(gen_table("{task}", "evolved", "mistakes", "{generator}")),
    log:
        "logs/mistakes/{task}/evolved/{generator}.log",
