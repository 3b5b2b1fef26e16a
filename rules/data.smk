# rules/data.smk — raw GSM8K / MATH tables: data/raw/{task}/{split}.parquet (README: "Data"),
# and the tiny models' warm-up rows: data/warmup/{task}.parquet (README: "The demo").
# Every data.* setting that shapes a table is a param, so changing it reruns that table; so is
# the sha256 of what a local or embedded source reads, so editing a file reruns it, while
# moving the data folder or touching a file reruns nothing (the folder itself is a place: it
# reaches `lema data` through --operational, not through params).
# The logic lives in lema/data/ (`lema data`: lema/data/cli.py); these rules only wire paths
# and settings.
# The params' logic lives in lema/workflow/params.py; an unknown MATH subject fails when the
# config is checked (rules/common.smk).


rule raw_data:
    output:
        raw_table("{task}", "{split}"),
    params:
        source=data_source,
        content=data_content,
        filters=data_filters,
    log:
        "logs/data/{task}/{split}.log",
    conda:
        "../envs/data.yaml"
    shell:
        "lema data --task {wildcards.task:q} --split {wildcards.split:q}"
        " {params.source:q} {params.filters:q} --operational \"$LEMA_OPERATIONAL\""
        " --out {output:q} > {log:q} 2>&1"


rule warmup_data:
    output:
        warmup_table("{task}"),
    params:
        source=data_source,
        content=lambda wc: data_content(wc, "train"),
        rows=warmup_rows_args,
    log:
        "logs/data/{task}/warmup.log",
    conda:
        "../envs/data.yaml"
    shell:
        "lema data --task {wildcards.task:q} --split train"
        " {params.source:q} {params.rows:q} --operational \"$LEMA_OPERATIONAL\""
        " --out {output:q} > {log:q} 2>&1"


# Evaluation-only benchmarks (config evaluation.benchmarks): data/raw/{benchmark}/test.parquet,
# a test split only, from data.local.{benchmark} when given, else the pinned public file
# (lema.data.benchmarks; there is no embedded slice). data.limit.test applies as to the tasks.
rule raw_benchmark:
    output:
        raw_table("{benchmark}", "test"),
    params:
        source=benchmark_source,
        content=benchmark_content,
        filters=benchmark_filters,
    wildcard_constraints:
        benchmark=BENCHMARK_PATTERN,
    log:
        "logs/data/{benchmark}/test.log",
    conda:
        "../envs/data.yaml"
    shell:
        "lema data --task {wildcards.benchmark:q} --split test"
        " {params.source:q} {params.filters:q} --operational \"$LEMA_OPERATIONAL\""
        " --out {output:q} > {log:q} 2>&1"
