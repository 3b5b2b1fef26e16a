"""Brace-aware LaTeX helpers shared by extraction and normalisation: matching braces,
finding ``\\boxed{...}`` answers in a completion, splitting at top-level separators,
unwrapping ``\\cmd{X}``."""

from __future__ import annotations

import re
from collections.abc import Callable

_BOX_RE = re.compile(r"\\(?:boxed|fbox|framebox)\b\s*")


def match_brace(s: str, i: int) -> int:
    """Index of the brace closing the one at ``s[i]`` (``-1`` if unbalanced)."""
    depth = 0
    for k in range(i, len(s)):
        c = s[k]
        if c == "\\":  # skip escaped braces \{ \}
            continue
        if c == "{" and (k == 0 or s[k - 1] != "\\"):
            depth += 1
        elif c == "}" and (k == 0 or s[k - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return k
    return -1


def find_boxed(text: str) -> list[tuple[int, int, str]]:
    """All ``\\boxed{...}`` / ``\\fbox{...}`` / ``\\boxed X`` as (start, end, content)."""
    out = []
    pos = 0
    while True:
        m = _BOX_RE.search(text, pos)
        if not m:
            break
        j = m.end()
        if j < len(text) and text[j] == "{":
            k = match_brace(text, j)
            if k < 0:  # unbalanced: take the rest, minus trailing delimiters
                content = text[j + 1 :].rstrip().rstrip("$").rstrip()
                out.append((m.start(), len(text), content))
                break
            out.append((m.start(), k + 1, text[j + 1 : k]))
            pos = k + 1
        else:  # \boxed 5  /  \boxed5
            mm = re.match(r"[^\s$\\]+|\\[a-zA-Z]+", text[j:])
            if mm:
                out.append((m.start(), j + mm.end(), mm.group(0)))
                pos = j + mm.end()
            else:
                pos = j
    return out


def split_top(s: str, seps: str = ",") -> list[str]:
    """Split ``s`` at separators outside (), [], {} and \\{ \\}."""
    parts, depth, cur = [], 0, []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] in "{}":
            depth += 1 if s[i + 1] == "{" else -1
            cur.append(s[i : i + 2])
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c in seps and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def outer_pair_closes_at_end(s: str) -> bool:
    """True when the bracket opening at s[0] is closed only by s[-1] (any bracket kinds)."""
    depth = 0
    for k, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0 and k != len(s) - 1:
                return False
    return depth == 0


def unwrap_cmd(s: str, cmd_re: re.Pattern[str], keep: Callable[[str], str] = lambda x: x) -> str:
    """Replace ``\\cmd{X}`` by ``keep(X)`` (brace-aware, all occurrences)."""
    out = []
    pos = 0
    while True:
        m = cmd_re.search(s, pos)
        if not m:
            out.append(s[pos:])
            break
        j = m.end() - 1
        k = match_brace(s, j)
        if k < 0:
            out.append(s[pos:])
            break
        out.append(s[pos : m.start()])
        out.append(keep(s[j + 1 : k]))
        pos = k + 1
    return "".join(out)
