# rules/evaluate.smk — step 8 (README: "Evaluation"): greedy decoding of each test set and
# its grading, per task x backbone x mix (mix `base` = the backbone without an adapter).
# The logic lives in lema/evaluation/predict.py (`lema predict`) and
# lema/evaluation/metrics.py (`lema eval`).
#
# - predict decodes and grades: predictions.parquet (id, question, gold, completion,
#   extracted, correct, level, subject). params.spec is the whole decoding spec (model,
#   adapter, backend, endpoint), so a config change re-decodes exactly what it touches; the
#   response cache (config `cache`) makes a re-decode of unchanged prompts free. With
#   `evaluation.samples` > 1 the spec carries a `samples` entry (n, temperature, top_p, seed;
#   lema.config.decode_spec), and predict also samples n completions per problem (the
#   `samples*` list columns, pass@k and maj@k in metrics.json); with 1 the spec, this rule's
#   params and its shell command are unchanged, so existing results are not rebuilt.
# - eval re-grades predictions.parquet from the completion text into metrics.json. It never
#   decodes: deleting metrics.json (or `--forcerun eval`) regrades in seconds.


rule predict:
    input:
        unpack(predict_inputs),
    output:
        predictions=predictions_table("{task}", "{backbone}", "{mix}"),
        stats=stats_file(predictions_table("{task}", "{backbone}", "{mix}")),
    params:
        spec=predict_spec,
        max_tokens=predict_max_tokens,
        limit=predict_limit,
        grade_timeout=config["evaluation"]["grade_timeout_s"],
    wildcard_constraints:
        mix=EVAL_MIX_PATTERN,
        backbone="[^/]+",
    threads: 2
    resources:
        gpu=predict_gpus,
        mem_mb=predict_mem_mb,
        runtime=predict_runtime,
    log:
        "logs/predict/{task}/{backbone}/{mix}.log",
    benchmark:
        "results/{task}/benchmarks/predict/{backbone}/{mix}.tsv"
    conda:
        "../envs/evaluate.yaml"
    shell:
        "OMP_NUM_THREADS={threads} lema predict --task {wildcards.task:q} --test {input.test:q}"
        " --spec {params.spec:q} --max-tokens {params.max_tokens} {params.limit}"
        " --operational \"$LEMA_OPERATIONAL\" --workers {threads} --grade-timeout {params.grade_timeout}"
        " --stats {output.stats:q} --output {output.predictions:q} > {log:q} 2>&1"


rule eval:
    input:
        predictions_table("{task}", "{backbone}", "{mix}"),
    output:
        report(
            metrics_file("{task}", "{backbone}", "{mix}"),
            caption="../report/metrics.rst",
            category="3. Per-model metrics",
            subcategory="{task}",
            labels={"backbone": "{backbone}", "mix": "{mix}"},
        ),
    params:
        model=eval_model_id,
        grade_timeout=config["evaluation"]["grade_timeout_s"],
    wildcard_constraints:
        mix=EVAL_MIX_PATTERN,
        backbone="[^/]+",
    threads: 2
    log:
        "logs/eval/{task}/{backbone}/{mix}.log",
    conda:
        "../envs/evaluate.yaml"
    shell:
        "lema eval {input:q} --task {wildcards.task:q} --backbone {wildcards.backbone:q}"
        " --mix {wildcards.mix:q} --model {params.model:q} --workers {threads}"
        " --timeout {params.grade_timeout} --output {output:q} > {log:q} 2>&1"


# Evaluation-only benchmarks (config evaluation.benchmarks; README: "Evaluation-only
# benchmarks"): every evaluated backbone x mix of a task is also decoded on each of the task's
# benchmarks, with the same spec, prompt (the task's CoT prompt) and max_tokens as the task's
# own test set, into results/{task}/eval/{backbone}/{mix}/{benchmark}/. The benchmark's table
# carries each row's answer_type (and choices), which the grading follows (lema.grading.typed);
# eval writes metrics.json with the benchmark named in it.
rule predict_benchmark:
    input:
        unpack(predict_benchmark_inputs),
    output:
        predictions=benchmark_predictions("{task}", "{backbone}", "{mix}", "{benchmark}"),
        stats=stats_file(benchmark_predictions("{task}", "{backbone}", "{mix}", "{benchmark}")),
    params:
        spec=predict_spec,
        max_tokens=predict_max_tokens,
        limit=predict_limit,
        grade_timeout=config["evaluation"]["grade_timeout_s"],
    wildcard_constraints:
        mix=EVAL_MIX_PATTERN,
        backbone="[^/]+",
        benchmark=BENCHMARK_PATTERN,
    threads: 2
    resources:
        gpu=predict_gpus,
        mem_mb=predict_mem_mb,
        runtime=predict_runtime,
    log:
        "logs/predict_benchmark/{task}/{backbone}/{mix}/{benchmark}.log",
    benchmark:
        "results/{task}/benchmarks/predict_benchmark/{backbone}/{mix}/{benchmark}.tsv"
    conda:
        "../envs/evaluate.yaml"
    shell:
        "OMP_NUM_THREADS={threads} lema predict --task {wildcards.task:q} --test {input.test:q}"
        " --spec {params.spec:q} --max-tokens {params.max_tokens} {params.limit}"
        " --operational \"$LEMA_OPERATIONAL\" --workers {threads} --grade-timeout {params.grade_timeout}"
        " --stats {output.stats:q} --output {output.predictions:q} > {log:q} 2>&1"


rule eval_benchmark:
    input:
        benchmark_predictions("{task}", "{backbone}", "{mix}", "{benchmark}"),
    output:
        report(
            benchmark_metrics("{task}", "{backbone}", "{mix}", "{benchmark}"),
            caption="../report/benchmark_metrics.rst",
            category="4. Benchmark metrics",
            subcategory="{task} adapters on {benchmark}",
            labels={"backbone": "{backbone}", "mix": "{mix}"},
        ),
    params:
        model=eval_model_id,
        grade_timeout=config["evaluation"]["grade_timeout_s"],
    wildcard_constraints:
        mix=EVAL_MIX_PATTERN,
        backbone="[^/]+",
        benchmark=BENCHMARK_PATTERN,
    threads: 2
    log:
        "logs/eval_benchmark/{task}/{backbone}/{mix}/{benchmark}.log",
    conda:
        "../envs/evaluate.yaml"
    shell:
        "lema eval {input:q} --task {wildcards.task:q} --benchmark {wildcards.benchmark:q}"
        " --backbone {wildcards.backbone:q} --mix {wildcards.mix:q} --model {params.model:q}"
        " --workers {threads} --timeout {params.grade_timeout} --output {output:q} > {log:q} 2>&1"
