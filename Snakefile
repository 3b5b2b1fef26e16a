# lema: Learning From Mistakes (An et al., 2023) as a build graph. See README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"


rule all:
    input:
        all_targets(),
    default_target: True


include: "rules/data.smk"
include: "rules/tiny.smk"
include: "rules/sample.smk"
include: "rules/correct.smk"
include: "rules/evolve.smk"
include: "rules/cot.smk"
include: "rules/mix.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
