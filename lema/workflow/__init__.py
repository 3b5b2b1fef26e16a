"""What the Snakefile imports: the one path scheme, rule params and resources, and the
operational settings that reach commands outside params. Nothing heavy is imported here
(no polars, torch or transformers): the DAG is built from plain functions.

- :mod:`lema.workflow.paths`: every path of the study, as functions of (task, split,
  generator, backbone, mix, ...) returning relative strings. Stage modules receive paths as
  arguments; a command whose CLI names only files reads a path back with ``eval_context``,
  ``qset_of`` or ``task_of``.
- :mod:`lema.workflow.params`: what a rule's params and resources hold, from the config
  (resolved specs and settings as canonical JSON, prompt and data content as sha256,
  ``lema`` options, GPU/memory/runtime defaults).
- :mod:`lema.workflow.knobs`: places and throughput knobs (``--operational``), which change
  no output and so never enter params; commands merge them back into their model specs.

Usage (rules/common.smk)::

    from lema.workflow import knobs, params, paths
    paths.gen_table("{task}", "original", "paths", "{generator}")
    params.model_spec_json(config, "gpt-4")
"""
