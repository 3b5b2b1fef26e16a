"""MATH's seven subjects: the dataset's own ``type`` values and the folder names the
original tarball uses for them, and :func:`normalize_subjects` for the config's
``data.math_subjects`` (light to import: the workflow checks the names at load time)."""

from __future__ import annotations

from collections.abc import Iterable

from lema.errors import ConfigError

# MATH's `type` values and the folder names the original tarball uses for them.
MATH_SUBJECTS: dict[str, str] = {
    "Algebra": "algebra",
    "Counting & Probability": "counting_and_probability",
    "Geometry": "geometry",
    "Intermediate Algebra": "intermediate_algebra",
    "Number Theory": "number_theory",
    "Prealgebra": "prealgebra",
    "Precalculus": "precalculus",
}


def normalize_subjects(names: Iterable[str] | None) -> list[str] | None:
    """MATH subject names (``Counting & Probability`` or ``counting_and_probability``,
    any case) as the dataset's own ``type`` values; an unknown name raises ConfigError."""
    if names is None:
        return None
    lookup = {k.lower(): k for k in MATH_SUBJECTS} | {v: k for k, v in MATH_SUBJECTS.items()}
    out = []
    for name in names:
        key = str(name).strip().lower()
        if key not in lookup:
            raise ConfigError(
                f"config key 'data.math_subjects': unknown MATH subject {name!r} "
                f"(known: {', '.join(MATH_SUBJECTS)})"
            )
        out.append(lookup[key])
    return out
