"""Prompt templates of the data-generation stages: a packaged file in ``lema/prompts/`` (by
name, e.g. ``sample_gsm8k.txt``) or a user's own file path; ``{name}`` placeholders are filled
by plain replacement, so LaTeX braces stay untouched."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from lema.errors import ConfigError

PROMPTS_DIR = Path(str(resources.files("lema") / "prompts"))


def prompt_path(name: str) -> Path:
    """Resolve a prompt: an existing file path (the user's own) or a packaged prompt name."""
    path = Path(name)
    if path.is_file():
        return path
    packaged = PROMPTS_DIR / name
    if packaged.is_file():
        return packaged
    available = ", ".join(sorted(p.name for p in PROMPTS_DIR.glob("*.txt")))
    raise ConfigError(f"prompt '{name}': no such file, and not one of lema's prompts ({available})")


def load_prompt(name: str, placeholders: Sequence[str] = ("question",)) -> str:
    """The template text; every placeholder ``{name}`` in ``placeholders`` must appear in it."""
    path = prompt_path(name)
    text = path.read_text()
    for key in placeholders:
        if "{" + key + "}" not in text:
            raise ConfigError(f"prompt {path}: the placeholder {{{key}}} is missing")
    return text


def render(template: str, **values: str) -> str:
    """Fill ``{name}`` placeholders by plain replacement (LaTeX braces stay untouched)."""
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value.strip())
    return out
