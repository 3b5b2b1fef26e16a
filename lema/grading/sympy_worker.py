"""The sympy side of MATH answer equivalence, run in worker processes by ``lema.grading.pool``.

``python -m lema.grading.sympy_worker BUDGET`` reads JSON lines ``{"p": pred, "g": gold}`` on
stdin and answers ``{"r": true|false}`` per line. Each comparison runs in this process's main thread
under a ``setitimer`` budget (``BUDGET`` seconds); the parent also kills the whole process when
an answer does not come back in time (sympy can block in C code, where no signal is handled).

LaTeX reaches sympy only through math-verify's ``parse`` with the LaTeX extraction config
(latex2sympy2's antlr grammar), never through ``sympify``/``parse_expr``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys

from lema.grading.equivalence import math_equal, scalar_fast
from lema.grading.normalise import normalize_math


class _OutOfTime(BaseException):
    """Raised by the timer; a BaseException so that library ``except Exception`` blocks
    cannot swallow it."""


_mv = None


def _math_verify():
    global _mv
    if _mv is None:
        logging.getLogger("math_verify").setLevel(logging.CRITICAL)
        logging.getLogger("latex2sympy2_extended").setLevel(logging.CRITICAL)
        from math_verify import LatexExtractionConfig, parse, verify
        from math_verify.parser import NormalizationConfig

        # units off: its unit list drops a trailing one-letter variable ("6+9c" parses as 15,
        # "4h" as 4); lema's own normalisation has already taken units off the answers
        norm = NormalizationConfig(
            basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all"
        )
        cfg = [
            LatexExtractionConfig(
                boxed_match_priority=0, try_extract_without_anchor=True, normalization_config=norm
            )
        ]
        _mv = (parse, verify, cfg)
    return _mv


def sympy_equal(pred: str, gold: str) -> bool:
    """math-verify's parse + verify (gold first) on two normalised LaTeX answers, with its own
    signal timeouts disabled (the caller's timer bounds the whole comparison)."""
    parse, verify, cfg = _math_verify()
    g = parse("\\boxed{" + gold + "}", extraction_config=cfg, parsing_timeout=None)
    if not g:
        return False
    p = parse("\\boxed{" + pred + "}", extraction_config=cfg, parsing_timeout=None)
    if not p:
        return False
    # only compare parsed expressions: the string fallbacks are already handled by the caller
    g = [x for x in g if not isinstance(x, str)]
    p = [x for x in p if not isinstance(x, str)]
    if not g or not p:
        return False
    # math-verify solves relations for their free symbols; "0.56 = 56" has none, so any two
    # such equations would "match". Compare their sides instead (or the stated value).
    g_rel = [x for x in g if _closed_relation(x)]
    p_rel = [x for x in p if _closed_relation(x)]
    if g_rel and p_rel:
        a, b = g_rel[0], p_rel[0]
        return type(a) is type(b) and all(
            verify(x, y, timeout_seconds=None) for x, y in ((a.lhs, b.lhs), (a.rhs, b.rhs))
        )
    g = [x.rhs if _closed_relation(x) else x for x in g]
    p = [x.rhs if _closed_relation(x) else x for x in p]
    return bool(verify(g, p, timeout_seconds=None, allow_set_relation_comp=True))


def _closed_relation(x) -> bool:
    from sympy.core.relational import Relational

    return isinstance(x, Relational) and not x.free_symbols


def scalar_full(p: str, g: str) -> bool:
    r = scalar_fast(p, g)
    if r is not None:
        return r
    return sympy_equal(normalize_math(p), normalize_math(g))


def _parsed(latex: str):
    """The first sympy expression math-verify parses from ``latex`` (None: none)."""
    parse, _verify, cfg = _math_verify()
    got = [x for x in parse("\\boxed{" + latex + "}", extraction_config=cfg, parsing_timeout=None)]
    got = [x for x in got if not isinstance(x, str)]
    return got[0] if got else None


def equations_equal(pred: str, gold: str) -> bool:
    """Two equations ``L = R`` (``lema.grading.normalise.equation_text``) of the same curve:
    ``L - R`` of one is a non-zero constant times that of the other."""
    import sympy

    sides = [e.split("=", 1) for e in (pred, gold)]
    exprs = [_parsed(f"({lhs})-({rhs})") for lhs, rhs in sides]
    if any(e is None or not getattr(e, "free_symbols", None) for e in exprs):
        return False
    ratio = sympy.simplify(exprs[0] / exprs[1])
    return bool(ratio.is_number and ratio.is_finite and ratio != 0)


def full_equal(pred: str, gold: str) -> bool:
    """Complete MATH comparison (structure, then sympy for what strings cannot decide)."""
    r = math_equal(pred, gold, scalar_full, equations_equal)
    if r is None:
        r = sympy_equal(normalize_math(pred), normalize_math(gold))
    return bool(r)


def _on_alarm(signum, frame):
    raise _OutOfTime()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    budget = float(argv[0]) if argv else 2.0
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    sys.stdout = sys.stderr  # nothing a library prints can corrupt the protocol
    signal.signal(signal.SIGALRM, _on_alarm)
    sys.setrecursionlimit(10000)
    _math_verify()
    # warm up the parser and sympy's caches so the first real item is not slow
    try:
        full_equal("\\frac{1}{2}+x", "x+0.5")
    except Exception:  # noqa: BLE001
        pass
    out.write(b"ready\n")
    for line in sys.stdin.buffer:
        try:
            req = json.loads(line)
            pred, gold = str(req["p"]), str(req["g"])
        except (ValueError, KeyError, TypeError):
            out.write(b'{"r": false, "error": "bad request"}\n')
            continue
        result, err = False, None
        signal.setitimer(signal.ITIMER_REAL, budget)
        try:
            result = full_equal(pred, gold)
        except _OutOfTime:
            err = "timeout"
        except RecursionError:
            err = "recursion"
        except Exception as e:  # noqa: BLE001 - any parser/sympy failure means "not shown equal"
            err = type(e).__name__
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        out.write(json.dumps({"r": bool(result), "error": err}).encode() + b"\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
