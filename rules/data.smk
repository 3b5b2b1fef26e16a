# rules/data.smk — raw GSM8K / MATH tables: data/raw/{task}/{split}.parquet (README: "Data"),
# and the tiny models' warm-up rows: data/warmup/{task}.parquet (README: "The demo").
# Every data.* setting that shapes a table is a param, so changing it reruns that table; so is
# the sha256 of what a local or embedded source reads, so editing a file reruns it, while
# moving the data folder or touching a file reruns nothing (the folder itself is a place: it
# reaches `lema data` through --operational, not through params).
# The logic lives in lema/data/__init__.py (`lema data`); these rules only wire paths and settings.
from lema.data import normalize_subjects, rule_filters, rule_source_args, rule_source_content

try:
    normalize_subjects(config["data"]["math_subjects"])  # an unknown subject fails here
except ConfigError as exc:
    sys.exit(f"lema: config error: {exc}")


rule raw_data:
    output:
        "data/raw/{task}/{split}.parquet",
    params:
        source=lambda wc: rule_source_args(config, wc.task),
        content=lambda wc: rule_source_content(config, wc.task, wc.split),
        filters=lambda wc: rule_filters(config, wc.task, wc.split),
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
        "data/warmup/{task}.parquet",
    params:
        source=lambda wc: rule_source_args(config, wc.task),
        content=lambda wc: rule_source_content(config, wc.task, "train"),
        rows=warmup_rows_args,
    log:
        "logs/data/{task}/warmup.log",
    conda:
        "../envs/data.yaml"
    shell:
        "lema data --task {wildcards.task:q} --split train"
        " {params.source:q} {params.rows:q} --operational \"$LEMA_OPERATIONAL\""
        " --out {output:q} > {log:q} 2>&1"
