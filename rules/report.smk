# rules/report.smk — the results table, plots and the pages of `snakemake --report report.html`
# (README: "Evaluation" and "Report"). Outputs meant for people are wrapped in report() with a
# caption from report/*.rst. The logic lives in lema/evaluation/ (summary.py, plot.py,
# report.py).


report: "../report/workflow.rst"


rule summary:
    input:
        summary_inputs(),  # metrics.json files and the predictions beside them
    output:
        csv=report(SUMMARY_CSV, caption="../report/summary.rst", category="1. Results",
                   labels={"name": "4. summary table (CSV)"}),
        md=SUMMARY_MD,
        html=report(SUMMARY_HTML, caption="../report/summary.rst", category="1. Results",
                    labels={"name": "1. summary table"}),
    log:
        "logs/report/summary.log",
    conda:
        "../envs/report.yaml"
    shell:
        "lema summary {input:q} --csv {output.csv:q} --md {output.md:q} --html {output.html:q}"
        " > {log:q} 2>&1"


rule plot:
    input:
        metrics_files(),
        size_curve_stats(),  # training rows of each mix of the size curve (mix.sizes)
    output:
        **report_plots(),
    params:
        extra=plot_extra_args,
    log:
        "logs/report/plot.log",
    conda:
        "../envs/report.yaml"
    shell:
        "lema plot {input:q} --accuracy {output.accuracy:q} {params.extra} > {log:q} 2>&1"


rule report_funnel:
    input:
        mix_targets(),  # once the mixes exist, every data-generation stats JSON exists
    output:
        report(FUNNEL_HTML, caption="../report/funnel.rst", category="2. Data generation",
               labels={"name": "1. data funnel"}),
    params:
        tasks=task_args(),
    log:
        "logs/report/funnel.log",
    conda:
        "../envs/report.yaml"
    shell:
        "lema report funnel --results results {params.tasks} --output {output:q} > {log:q} 2>&1"


rule report_corrections:
    input:
        corrections_inputs(),
    output:
        report(CORRECTIONS_HTML, caption="../report/corrections.rst",
               category="2. Data generation", labels={"name": "2. mistake/correction pairs"}),
    params:
        n=config["evaluation"]["report_corrections"],
        seed=config["mix"]["seed"],
    log:
        "logs/report/corrections.log",
    conda:
        "../envs/report.yaml"
    shell:
        "lema report corrections {input:q} -n {params.n} --seed {params.seed}"
        " --output {output:q} > {log:q} 2>&1"
