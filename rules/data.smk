# rules/data.smk — raw GSM8K / MATH tables: data/raw/{task}/{split}.parquet (README: "Data").
# Every data.* setting that shapes a table is a param, so changing it reruns that table;
# with data.source: local the files read are inputs, so editing them reruns it too.
# The logic lives in lema/data.py (`lema data`); this rule only wires paths and settings.
from lema.data import local_inputs, normalize_subjects, rule_filters, rule_local

try:
    normalize_subjects(config["data"]["math_subjects"])  # an unknown subject fails here
except ConfigError as exc:
    sys.exit(f"lema: config error: {exc}")


rule raw_data:
    input:
        lambda wc: local_inputs(wc.task, wc.split, rule_local(config, wc.task)),
    output:
        "data/raw/{task}/{split}.parquet",
    params:
        source=config["data"]["source"],
        local=lambda wc: rule_local(config, wc.task),
        filters=lambda wc: rule_filters(config, wc.task, wc.split),
    log:
        "logs/data/{task}/{split}.log",
    conda:
        "../envs/data.yaml"
    shell:
        "lema data --task {wildcards.task:q} --split {wildcards.split:q}"
        " --source {params.source:q} --local {params.local:q}"
        " {params.filters:q} --out {output:q} > {log:q} 2>&1"
