"""Model access: one interface for every model call, several backends, one response cache.

    from lema.models import Sampling, Request, generate

    results = generate(
        spec,        # a config `models` entry: {"backend": "hf"|"openai"|"file", "model": ..., ...}
        [Request("q1", prompt="2+2=", sampling=Sampling(n=4, temperature=0.8, max_tokens=64)),
         {"id": "q2", "messages": [{"role": "user", "content": "Hi"}], "temperature": 0.0}],
        cache=".lema-cache/responses.sqlite",   # None: $LEMA_CACHE or that default; False: off
    )
    results[0].completions   # 4 strings, sample-index order
    results[0].usage         # {"prompt_tokens", "completion_tokens", "cost_usd"}

A stage calls a model through :func:`call_model` (id -> completions, tokens and cost
summed into a :class:`Usage`), usually by way of a :class:`ModelCall`; :mod:`lema.models.cli`
holds the shared command-line options and `lema generate`.

Backends: ``hf`` (transformers in-process; :mod:`lema.models.hf`), ``openai`` (any
OpenAI-compatible endpoint; :mod:`lema.models.openai_backend`), ``file`` (completions from
JSONL; :mod:`lema.models.file_backend`). Every hf/openai sample goes through the persistent
cache (:mod:`lema.models.cache`). An openai spec with ``serve`` is served by the job itself
(:mod:`lema.serving`: started when completions are missing, stopped when done).
Importing this package is cheap: torch / openai load only when a backend runs.
"""

from lema.models.cache import DEFAULT_CACHE, ResponseCache, cache_key
from lema.models.calls import ModelCall, Usage, call_model, is_gold, make_request, parse_spec
from lema.models.core import generate, register_backend
from lema.models.types import (
    BudgetExceeded,
    GenerationError,
    GenerationStats,
    Request,
    Result,
    Sampling,
)

__all__ = [
    "DEFAULT_CACHE",
    "BudgetExceeded",
    "GenerationError",
    "GenerationStats",
    "ModelCall",
    "Request",
    "ResponseCache",
    "Result",
    "Sampling",
    "Usage",
    "cache_key",
    "call_model",
    "generate",
    "is_gold",
    "make_request",
    "parse_spec",
    "register_backend",
]
