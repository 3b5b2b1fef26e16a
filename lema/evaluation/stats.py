"""Error bars and paired tests of pass@1, in pure Python (deterministic, no numpy).

- :func:`wilson_interval`: the Wilson score 95 % interval of a proportion k/n, in percent;
- :func:`mcnemar_exact_p`: McNemar's exact two-sided p-value of a paired comparison, the
  binomial test on the discordant pairs (b problems only model A solves, c only model B);
- :func:`paired_bootstrap_ci`: the 95 % percentile interval of the difference in pass@1
  (A − B, percentage points) over resamples of the same problems with replacement, with a
  fixed seed. A resample of n problems is summarised by how many of them are A-only and
  B-only solves; those two counts are drawn from their exact multinomial distribution (what
  drawing n problem indices would give), so 10,000 resamples of 5,000 problems take
  milliseconds;
- :func:`pass_at_k`: the unbiased pass@k estimator of Chen et al. (2021) for one problem with
  n samples of which c are correct; :func:`mean_interval`: a 95 % interval of the mean of
  per-problem values in [0, 1] (pass@k's estimates): Wilson's at the mean, conservative.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from fractions import Fraction

#: the two-sided 95 % normal quantile
Z95 = 1.959963984540054
CI_METHOD = "wilson"
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0


def wilson_interval(k: int, n: int, z: float = Z95) -> list[float] | None:
    """Wilson score interval of k successes in n trials, as [lo, hi] in percent (2 decimals);
    None when n is 0."""
    if n <= 0:
        return None
    if not 0 <= k <= n:
        raise ValueError(f"wilson_interval: need 0 <= k <= n, got k={k}, n={n}")
    return _wilson(k / n, n, z)


def _wilson(p: float, n: int, z: float) -> list[float]:
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    return [round(100 * lo, 2), round(100 * hi, 2)]


def pass_at_k(n: int, c: int, k: int) -> float:
    """The probability that at least one of ``k`` samples drawn without replacement from
    ``n`` samples, ``c`` of them correct, is correct: 1 − C(n−c, k) / C(n, k) (Chen et al.,
    2021, the unbiased estimator of pass@k), as the product 1 − Π_{i=n−c+1..n} (1 − k/i),
    which stays exact in floating point where the binomials overflow."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k: need 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def mean_interval(values: Sequence[float], z: float = Z95) -> list[float] | None:
    """A 95 % interval of the mean of values in [0, 1] over N problems: the Wilson score
    interval at p = the mean and n = N, as [lo, hi] in percent (2 decimals); None without
    values. For 0/1 values it is exactly :func:`wilson_interval`; for values in between it is
    conservative, since a [0, 1] variable's variance is at most p(1 − p) (and unlike a
    normal approximation from the sample variance it never shrinks to a point)."""
    if not values:
        return None
    return _wilson(math.fsum(values) / len(values), len(values), z)


def mcnemar_exact_p(b: int, c: int) -> float:
    """McNemar's exact two-sided p-value: 2 · P(X <= min(b, c)) for X ~ Binomial(b + c, 1/2),
    capped at 1 (1.0 when there are no discordant pairs). Exact rational arithmetic."""
    if b < 0 or c < 0:
        raise ValueError("mcnemar_exact_p: counts must be non-negative")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


def discordant(a: Sequence[bool], b: Sequence[bool]) -> tuple[int, int]:
    """(problems only ``a`` gets right, problems only ``b`` gets right), pairwise."""
    if len(a) != len(b):
        raise ValueError(f"paired outcomes differ in length ({len(a)} vs {len(b)})")
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    return only_a, only_b


def _binomial_cdf(n: int, p: float) -> list[float]:
    """Cumulative probabilities P(X <= k), k = 0..n, of Binomial(n, p) (log space)."""
    if p <= 0.0:
        return [1.0] * (n + 1)
    if p >= 1.0:
        return [0.0] * n + [1.0]
    lp, lq = math.log(p), math.log1p(-p)
    lg = math.lgamma(n + 1)
    logs = [
        lg - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * lp + (n - k) * lq
        for k in range(n + 1)
    ]
    top = max(logs)
    cdf, acc = [], 0.0
    for v in logs:
        acc += math.exp(v - top)
        cdf.append(acc)
    return [x / acc for x in cdf]


def _draw(cdf: list[float], rng: random.Random) -> int:
    return min(bisect.bisect_left(cdf, rng.random()), len(cdf) - 1)


def _percentile(values: list[float], q: float) -> float:
    """Linear-interpolation percentile of sorted ``values`` (numpy's default)."""
    pos = q * (len(values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def paired_bootstrap_ci(
    a: Sequence[bool],
    b: Sequence[bool],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> list[float] | None:
    """95 % paired-bootstrap interval of pass@1(a) − pass@1(b) in percentage points
    ([lo, hi], 2 decimals; None without problems). ``a[i]`` and ``b[i]`` are the same
    problem. Deterministic for a given seed."""
    n = len(a)
    only_a, only_b = discordant(a, b)
    if n == 0:
        return None
    rng = random.Random(seed)
    disc = only_a + only_b
    # discordant problems in a resample, then how many of those are a-only
    m_cdf = _binomial_cdf(n, disc / n)
    split: dict[int, list[float]] = {}
    deltas = []
    for _ in range(resamples):
        m = _draw(m_cdf, rng)
        if m not in split:
            split[m] = _binomial_cdf(m, only_a / disc if disc else 0.0)
        k = _draw(split[m], rng)
        deltas.append(100.0 * (2 * k - m) / n)
    deltas.sort()
    return [round(_percentile(deltas, 0.025), 2), round(_percentile(deltas, 0.975), 2)]


def paired_test(a: Sequence[bool], b: Sequence[bool]) -> dict[str, object]:
    """The paired comparison of two runs on the same problems: the delta (pp), its bootstrap
    95 % interval and McNemar's exact p-value."""
    only_a, only_b = discordant(a, b)
    n = len(a)
    return {
        "delta": round(100.0 * (only_a - only_b) / n, 2) if n else None,
        "ci95": paired_bootstrap_ci(a, b),
        "p_mcnemar": mcnemar_exact_p(only_a, only_b),
        "only_a": only_a,
        "only_b": only_b,
    }
