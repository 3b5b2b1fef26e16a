# rules/evolve.smk — step 4: correction-centric evolution. The corrector writes new questions
# from the questions that produced kept corrections; each gets a reference answer by
# self-consistency. The evolved questions then go through rules/sample.smk and
# rules/correct.smk with qset=evolved. Left out of the graph when evolution is disabled or the
# corrector is `gold` (recorded in the pool's stats). Logic: lema/datagen/evolve.py (`lema evolve`).


rule evolve_questions:
    input:
        unpack(evolve_inputs),
    output:
        questions=evolved_questions("{task}"),
        stats=stats_file(evolved_questions("{task}")),
    params:
        spec=corrector_spec,
        prompt=lambda wc: prompt_name("evolution", wc.task),
        prompt_sha256=lambda wc: prompt_sha256("evolution", wc.task),
        cot_prompt=lambda wc: prompt_name("cot", wc.task),
        cot_prompt_sha256=lambda wc: prompt_sha256("cot", wc.task),
        new_per_seed=config["evolution"]["new_per_seed"],
        max_seeds=max_seeds_arg,
        votes=config["evolution"]["votes"],
        min_agreement=config["evolution"]["min_agreement"],
        temperature=config["evolution"]["temperature"],
        max_tokens=config["evolution"]["max_tokens"],
        seed=config["evolution"]["seed"],
    resources:
        gpu=corrector_gpus,
    log:
        "logs/evolve_questions/{task}.log",
    benchmark:
        "benchmarks/runs/evolve_questions/{task}.tsv"
    conda:
        "../envs/generate.yaml"
    shell:
        "lema evolve --task {wildcards.task} --corrections {input.corrections:q} --spec {params.spec:q}"
        " --prompt {params.prompt:q} --cot-prompt {params.cot_prompt:q}"
        " --new-per-seed {params.new_per_seed} {params.max_seeds} --votes {params.votes}"
        " --min-agreement {params.min_agreement} --temperature {params.temperature}"
        " --max-tokens {params.max_tokens} --seed {params.seed} --operational \"$LEMA_OPERATIONAL\""
        " --output {output.questions:q} --stats {output.stats:q} > {log:q} 2>&1"
