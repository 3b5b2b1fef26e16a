"""Answer extraction: the final answer stated in a completion or a gold solution.

``extract_answer(completion, task)`` reads a model output (or a gold solution): the completion
is trimmed after its own answer (stop tokens, hallucinated follow-up questions), then answer
statements are tried in tiers (``\\boxed{}`` / "Final Answer" / ``####``, then "the answer is" /
"answer:", then "A:"), the last one of a tier winning; without any, GSM8K takes the last number
and MATH the last math of the last paragraph. ``gold_answer(solution, task)`` is the dataset's
own answer convention (what ``lema data`` writes in the raw tables' ``answer`` column).
Model output is read only by regular expressions and our own number parser.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction

from lema.grading.latex import find_boxed
from lema.grading.normalise import NUM_BODY, NUM_RE, WORD_NUMBERS, parse_number
from lema.tasks import TASKS, kind_of  # noqa: F401 (TASKS: lema.grading re-exports it)

#: answer statements of one kind considered (the last ones)
MAX_ANCHORS = 20
#: longest completion scanned (characters, from the end)
MAX_COMPLETION_CHARS = 200_000


def check_task(task: str) -> str:
    """The built-in task whose grader ``task`` gets: ``task`` lower-cased when it is one of
    ``TASKS``, a task of tasks_defined's kind (:func:`lema.tasks.kind_of`); ValueError else."""
    return kind_of(task)


_STOP_TOKENS = ("<|endoftext|>", "</s>", "<|im_end|>", "<|eot_id|>", "<|end|>", "<eos>")
_CONTINUATION_RE = re.compile(
    r"\n\s*(?:(?:#+\s*|\*\*)?(?:Question|Problem|Q|Instruction|Human|User|Input|Exercise)"
    r"\s*\d*\s*(?:\*\*)?\s*[:.]|#+\s*(?:Question|Problem|Instruction)\b)",
    re.IGNORECASE,
)
#: text before a hallucinated follow-up question that makes it the model's own work: an answer
#: statement, or (before an unnumbered "Question:") any number, as GSM8K chains of thought often
#: end with a bare "... = 18." ("Question 2:" after numbers may be part of the solution)
_HAS_ANSWER_RE = re.compile(r"\\boxed|\\fbox|answer|####", re.IGNORECASE)


def _trim(text: str) -> str:
    """Drop what a model wrote after its own answer: stop tokens and hallucinated follow-up
    questions ("\\n\\nQuestion: ..."), when an answer was given before them."""
    text = text[-MAX_COMPLETION_CHARS:]
    for tok in _STOP_TOKENS:
        k = text.find(tok)
        if k >= 0:
            text = text[:k]
    for m in _CONTINUATION_RE.finditer(text):
        before = text[: m.start()]
        if m.start() > 0 and (
            _HAS_ANSWER_RE.search(before)
            or (not re.search(r"\d", m.group(0)) and re.search(r"\d", before))
        ):
            return before
    return text


#: the trimming every reader of a completion applies (lema.grading.choice uses it too)
trim_completion = _trim


_ANCHORS = [
    # (regex, kind); the last match in the text wins
    # "final answer" only with answer syntax after it ("Final Answer: X", "final answer is X",
    # "= X", a "**Final Answer**" / "# Final Answer" header line); "our final answer of $36$"
    # is a loose mention, not a statement
    (re.compile(r"final\s+answer\s*(?:\*\*)?\s*(?:is\b|:|=)\s*:?", re.I), "final"),
    (
        re.compile(
            r"(?m)^[ \t]*(?:#+[ \t]*|\*\*)?final\s+answer[ \t]*(?:\*\*)?[ \t]*:?[ \t]*"
            r"(?:\*\*)?[ \t]*$",
            re.I,
        ),
        "final",
    ),
    # PRM800K style: "# Answer\n\n18"
    (re.compile(r"(?m)^[ \t]*#+[ \t]*answer[ \t]*:?[ \t]*$", re.I), "final"),
    (re.compile(r"<answer>", re.I), "final"),
    (
        re.compile(
            r"\banswers?(?:\s+to\s+[^.\n]{0,60}?)?\s+(?:is|are|would\s+be|will\s+be|"
            r"should\s+be)\s*:?",
            re.I,
        ),
        "is",
    ),
    (re.compile(r"answer\s*(?:\*\*)?\s*[:=]", re.I), "colon"),
    (re.compile(r"####"), "hash"),
    (re.compile(r"(?m)^\s*A\s*:"), "a"),
]
_HOPE_RE = re.compile(r"\s*I\s+hope\s+it\s+is\s+correct.*$", re.I | re.S)


_FILLER_RE = re.compile(
    r"^(?:(?:therefore|thus|hence|then|so|simply|just|indeed|clearly|now|actually|exactly|"
    r"that|equal\s+to|equals|given\s+by|as\s+follows)\b[\s:,]*|"
    r"the\s+(?:number|value)\s+(?=[-\d$\\]))+",
    re.I,
)
#: connectors between the math spans of one answer ("$2$ and $3$")
_JOIN_RE = re.compile(
    r"[ \t]*(?:,[ \t]*(?:and|or)?|and|or|"
    r"\\text\{\s*(?:,\s*)?(?:and|or)\s*\})[ \t]*(?=\$|\\\()",
    re.I,
)
#: a reason after the answer: "\frac12, because ...", "5 since ..."
_REASON_RE = re.compile(r",?\s+(?:because|since|as|which|where|so\s+that|when|if)\b.*$", re.I)


def _math_delimited_end(span: str) -> int:
    """Index just past the delimited math span that ``span`` starts with (after the same
    stripping as ``_math_delimited``); 0 when there is none."""
    lead = len(span) - len(span.lstrip(" *\t:"))
    body = span[lead:]
    for op, cl in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if body.startswith(op):
            k = body.find(cl, len(op))
            while op == "$" and k > 0 and body[k - 1] == "\\":
                k = body.find(cl, k + 1)
            if k > 0:
                return lead + k + len(cl)
    return 0


def _math_delimited(span: str) -> str | None:
    """If ``span`` starts with a math delimiter ($, $$, \\(, \\[), its content."""
    span = span.lstrip(" *\t:")
    for op, cl in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if span.startswith(op):
            k = span.find(cl, len(op))
            while op == "$" and k > 0 and span[k - 1] == "\\":  # \$ inside
                k = span.find(cl, k + 1)
            if k > 0:
                return span[len(op) : k]
    return None


def _span_after(text: str, pos: int) -> str:
    """The answer text following an anchor at ``pos``: a delimited math span, else the rest
    of the line up to a sentence end."""
    rest = text[pos : pos + 2000]
    rest = re.sub(r"^[\s*_:]+", "", rest)  # markdown bold around "Answer:**"
    rest = _FILLER_RE.sub("", rest)  # "is therefore $18$", "is equal to 5"
    inner = _math_delimited(rest)
    if inner is not None:
        box = find_boxed(inner)
        if box:
            return box[-1][2]
        # "$2$ and $3$", "$x=1$, $x=2$": one answer in several math spans
        parts, after = [inner], rest[_math_delimited_end(rest) :]
        while len(parts) < 10:
            m = _JOIN_RE.match(after)
            nxt = _math_delimited(after[m.end() :]) if m else None
            if nxt is None:
                break
            parts.append(nxt)
            after = after[m.end() :]
            after = after[_math_delimited_end(after) :]
        return ", ".join(p.strip() for p in parts)
    box = find_boxed(rest.split("\n\n")[0])
    if box and box[0][0] < 5:
        return box[0][2]
    line = _sentence(rest.split("\n\n")[0])
    line = re.sub(r"</answer>.*$", "", line)
    line = _REASON_RE.sub("", line)
    line = _HOPE_RE.sub("", line)
    return line.strip().strip("*").strip()


def _sentence(s: str) -> str:
    """``s`` up to the end of its first sentence: a line break, a period followed by a space,
    a capital letter or the end ("3.5", "a.m." and ".5" do not end it), '!' or '?' followed by a
    space; none of them inside braces ("\\text{ways.}", "1,\\!000", "\\text{square\\nunits}")."""
    depth = 0
    n = len(s)
    for k, c in enumerate(s):
        if c == "{" and (k == 0 or s[k - 1] != "\\"):
            depth += 1
        elif c == "}" and (k == 0 or s[k - 1] != "\\") and depth > 0:
            depth -= 1
        elif depth:
            continue
        elif c == "\n":
            return s[:k]
        elif c == "." and (k + 1 == n or s[k + 1].isspace() or s[k + 1].isupper()):
            return s[:k]
        elif c in "!?" and (k == 0 or s[k - 1] != "\\") and (k + 1 == n or s[k + 1].isspace()):
            return s[:k]
    return s if depth == 0 else s.split("\n")[0]


def clean_number_text(s: str) -> str:
    """``s`` without what surrounds a number in prose and LaTeX: ``$``, ``\\!``, ``{,}``,
    ``\\text{}``, ``%``, markdown bold, spaced thousands."""
    s = s.replace("−", "-").replace("\\!", "").replace("{,}", ",").replace("\\,", "")
    s = s.replace("\\$", "").replace("$", "").replace("**", "").replace("\\%", "%")
    s = re.sub(r"\\text\{([^{}]*)\}", r" \1 ", s)
    s = re.sub(r"\\boxed\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"(\d),\s(\d{3})(?!\d)", r"\1,\2", s) if re.search(r"\d,\s\d{3}\b", s) else s
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = re.sub(r"(?<=\d)\s*%", "", s)
    return s.strip()


#: a second number offered instead of the first: "27 or 28", "27 (or maybe 28)"
_HEDGE_RE = re.compile(r"^\s*[(,]?\s*or\s+(?:maybe\s+|perhaps\s+|possibly\s+)?\$?-?\d", re.I)
#: a span that starts with one number grouped by spaces, then only words or nothing
_LEAD_GROUPED_RE = re.compile(
    r"^[\s:*(]*(-?\d{1,3}(?: \d{3})+(?:\.\d+)?)(?![\d.,]?\d)\s*(?=[a-zA-Z%]|$)"
)
#: a span that starts with a decimal comma no thousands separator can be ("3,75", "0,5")
_LEAD_DECIMAL_COMMA_RE = re.compile(
    r"^[\s:*(]*(-?\d+),(\d{1,2}|\d{4,})(?![\d.,])\s*(?=[a-zA-Z%]|$)|"
    r"^[\s:*(]*(-?0),(\d+)(?![\d.,])\s*(?=[a-zA-Z%]|$)"
)


def hedged(span: str) -> bool:
    """Whether an answer span offers a second number instead of its first ("27 or 28")."""
    s = clean_number_text(span)
    lead = re.match(r"^[\s:*(]*-?" + NUM_BODY + r"(?![\d])", s)
    return bool(lead and _HEDGE_RE.match(s[lead.end() :]))


def number_in_span(span: str) -> str | None:
    """The number an answer span states: after the last '=', else its first number."""
    s = clean_number_text(span)
    # "12 000" (thousands grouped by spaces) and "3,75" (a decimal comma) as the whole number
    # of the span, with at most words (units) after it
    grouped = _LEAD_GROUPED_RE.match(s)
    if grouped:
        return grouped.group(1).replace(" ", "")
    comma = _LEAD_DECIMAL_COMMA_RE.match(s)
    if comma:
        return f"{comma.group(1)}.{comma.group(2)}"
    lead = re.match(r"^[\s:*(]*(-?" + NUM_BODY + r")(?![\d])\s*(?P<op>[-+*/×x÷^(])?", s)
    if lead and not lead.group("op"):
        if _HEDGE_RE.match(s[lead.end() :]):  # "27 or 28": no one answer
            return None
        return lead.group(1).replace(",", "")
    if lead and lead.group("op") == "/" and "=" not in s:  # "The answer is 1/2."
        fm = re.match(r"^[\s:*(]*(-?\d+)\s*/\s*(\d+)(?![\d.,]\d)", s)
        if fm and int(fm.group(2)):
            return _fraction_text(Fraction(int(fm.group(1)), int(fm.group(2))))
    if "=" in s:
        after = s.rsplit("=", 1)[1]
        if NUM_RE.search(after):
            s = after
    elif len(re.findall(r"[a-zA-Z]+", s)) > 8:
        return None  # prose: "Answer: Janet has 16 eggs and ..." states no final number
    m = re.search(r"-?\\frac\{-?\d+\}\{\d+\}", s)
    nm = NUM_RE.search(s)
    if m and (nm is None or m.start() <= nm.start()):
        v = parse_number(m.group(0))
        if v is not None:
            return _fraction_text(v)
    if nm:
        return nm.group(0).replace(",", "")
    w = re.search(r"\b(" + "|".join(WORD_NUMBERS) + r")\b", s, re.I)
    if w and len(s) < 40:
        return str(WORD_NUMBERS[w.group(1).lower()])
    return None


def _fraction_text(v: Fraction) -> str:
    if v.denominator == 1:
        return str(v.numerator)
    d = v.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d == 1:
        return format(v.numerator / v.denominator, "f").rstrip("0").rstrip(".")
    return f"{v.numerator}/{v.denominator}"


def _last_number(text: str) -> str | None:
    s = clean_number_text(text)
    s = re.sub(r"<<[^<>]*>>", "", s)
    # step labels and list numbers are not results: "Step 3:", "\n2. minus 3 = 13"
    s = re.sub(r"(?im)\bstep\s*\d+\s*[:.)]|^[ \t#*]*\d+[.)][ \t]+(?=\S)", " ", s)
    nums = NUM_RE.findall(s)
    return nums[-1].replace(",", "") if nums else None


def _candidates(text: str) -> list[tuple[int, str, str]]:
    """(position, kind, span) of every answer statement, in text order."""
    out = [(s, "boxed", c) for s, _e, c in find_boxed(text)]
    for rx, kind in _ANCHORS:
        for m in list(rx.finditer(text))[-MAX_ANCHORS:]:
            out.append((m.start(), kind, _span_after(text, m.end())))
    out.sort(key=lambda x: x[0])
    return out


def _join_boxes(text: str) -> str | None:
    """The last boxed answer; boxes separated only by ',', 'and', 'or' are joined ("\\boxed{1},
    \\boxed{2}" -> "1, 2")."""
    boxes = find_boxed(text)
    if not boxes:
        return None
    group = [boxes[-1]]
    for b in reversed(boxes[:-1]):
        between = text[b[1] : group[0][0]]
        if re.fullmatch(
            r"[\s$]*(?:,|and|or|\\text\{\s*(?:,\s*)?(?:and|or)\s*\}|;)?[\s$,]*", between
        ) and between.strip(" $"):
            group.insert(0, b)
        else:
            break
    contents = [c.strip() for _s, _e, c in group]
    dedup = [c for i, c in enumerate(contents) if c not in contents[:i]]
    return ", ".join(dedup)


_TIERS = (("boxed", "final", "hash"), ("is", "colon"), ("a",))
_NOT_ANSWER_START = re.compile(
    r"^(?:correct|incorrect|wrong|right|not|in|an?(?=\s+[a-z])|the|that|this|these|those|to|as|because|"
    r"therefore|since|yes|no|indeed|also|clearly|obviously|given|found|shown|below|above|still|"
    r"then|we|it|equal|same|different|already|simply|just|now|here|there|which|what|how|"
    r"unchanged|valid|invalid|reasonable|indeed|positive|negative|consistent)\b",
    re.I,
)


def _plausible(span: str, task: str, kind: str = "") -> bool:
    if not span or not span.strip():
        return False
    if (
        kind != "boxed"
        and _NOT_ANSWER_START.match(span.strip(" *:"))
        and not re.search(r"[\d$\\]", span)
    ):
        return False
    if task == "gsm8k":
        return number_in_span(span) is not None
    s = span.strip()
    # prose after "answer:" ("Let's think step by step") is not an answer
    words = re.findall(r"[a-zA-Z]+", re.sub(r"\\[a-zA-Z]+", "", s))
    if not re.search(r"[\d=\\^_{}()\[\]<>+\-]", s):
        return len(words) <= 3 and len(s) <= 40
    return len(s) < 300


def extract_answer(
    completion: str | None, task: str, choices: Sequence[str] | None = None
) -> str | None:
    """The final answer stated in ``completion`` (a model output or a gold solution).

    GSM8K: a plain number string ("18", "-2.5", "1000"); MATH: the LaTeX of the answer as
    written (``\\boxed`` content, or what follows "The answer is" / "Final Answer:" ...);
    CSQA (``choices``: the row's candidate answers): the candidate's text the completion chose
    (:func:`lema.grading.choice.extract_candidate`), without ``choices`` the answer text it
    states (:func:`lema.grading.choice.stated_candidate_text`). ``choices`` is ignored for
    the other kinds. None when no answer can be found.
    """
    task = check_task(task)
    if not completion or not completion.strip():
        return None
    if task == "csqa":
        from lema.grading.choice import extract_candidate, stated_candidate_text

        if choices:
            return extract_candidate(completion, choices)
        return stated_candidate_text(completion)
    text = _trim(str(completion))
    cands = _candidates(text)
    # the last statement wins; "The answer is $\boxed{5}$" yields the boxed content once
    boxes = find_boxed(text)
    # tiers: explicit final statements first (a later "we can check our answer: ..." must not
    # override a boxed answer), then "the answer is" / "answer:", then "A:"; the last one
    # within a tier wins
    for tier in _TIERS:
        for pos, kind, span in reversed(cands):
            if kind not in tier:
                continue
            if kind == "boxed" and pos == boxes[-1][0]:
                span = _join_boxes(text) or span
            if kind == "a" and len(span) > 40:
                continue
            if task == "gsm8k" and hedged(span):
                return None  # "The answer is 27 or 28": the last statement offers two answers
            if not _plausible(span, task, kind):
                continue
            if task == "gsm8k":
                return number_in_span(span)
            ans = _clean_math_span(span)
            if ans:
                return ans
    bare = _bare_answer(text)
    if bare is not None:
        if task == "gsm8k":
            return number_in_span(_join_spaced_thousands(bare))
        return _clean_math_span(bare)
    if task == "gsm8k":
        return _last_number(text)
    return _math_fallback(text)


#: longest completion read as a bare answer ("3/4", "5\\sqrt{2}", "(2,-7)", "2 500")
MAX_BARE_CHARS = 80
#: algebra in one-letter variables only: "q - r + p", "a^b", "(x+y)/z"
_LETTER_ALGEBRA_RE = re.compile(
    r"[\s$(]*-?[a-zA-Z](?![a-zA-Z])(?:[\s)]*[-+*/^][\s(]*-?[a-zA-Z](?![a-zA-Z]))+[\s)$]*"
)
_BARE_CHOICE_RE = re.compile(r"\(?[A-E]\)?\.?")
_SPACED_THOUSANDS_RE = re.compile(r"^\s*-?\d{1,3}(?: \d{3})+(?:\.\d+)?\s*$")


def _bare_answer(text: str) -> str | None:
    """``text`` itself when the whole completion is an answer rather than a solution: one short
    line with at most two prose words (units, a name) and no sentence in it."""
    t = re.sub(r"\\(?:boxed|fbox)\s*\{\s*\}", "", text).strip()
    if not t or len(t) > MAX_BARE_CHARS or "\n" in t:
        return None
    if _BARE_CHOICE_RE.fullmatch(t):  # a multiple-choice letter alone: "(C)", "C)", "C."
        return t.rstrip(".").strip()
    # mathematics first: a number, a command or a one-letter variable ("x = 5"), units after
    if not re.match(r"[\s$(\[{+\-.]*(?:\d|\\[a-zA-Z]|[a-zA-Z](?![a-zA-Z']))", t):
        return None
    if not re.search(r"\d|\\[a-zA-Z]", t) and not _LETTER_ALGEBRA_RE.fullmatch(t.rstrip(".")):
        return None
    body = re.sub(r"\\[a-zA-Z]+", " ", t.rstrip("."))
    words = re.findall(r"[A-Za-z]{2,}", body)
    if len(words) > 2 or re.search(r"[.!?]\s+[A-Z]", t) or _looks_truncated(t):
        return None
    return t


def _join_spaced_thousands(s: str) -> str:
    """ "2 500" -> "2500" when the whole of ``s`` is one number grouped by spaces."""
    return s.replace(" ", "") if _SPACED_THOUSANDS_RE.match(s) else s


_PROSE_IS_RE = re.compile(
    r"^(?:(?:[A-Za-z',]+|\$[^$]{1,30}\$)\s+){1,8}(?:is|are|equals|=)\s+(?P<ans>[^\s].*)$"
)


def _clean_math_span(span: str) -> str | None:
    s = span.strip()
    m = _PROSE_IS_RE.match(s)  # "The number of ways is 12" (after a "Final Answer" header)
    if m and re.search(r"[A-Za-z]{2}", s[: m.start("ans")]):  # not "y = 2x+1"
        s = m.group("ans")
    s = _HOPE_RE.sub("", s).strip()
    s = s.strip("*").strip()
    inner = _math_delimited(s)
    if inner is not None and inner.strip():
        s = inner
    s = s.replace("\\$", "\\\x00").replace("$", "").replace("\\\x00", "\\$").strip()
    s = re.sub(r"(?:\\\\|\s)+$", "", s)  # a trailing LaTeX line break
    s = s.rstrip(".").rstrip()
    return s or None


_MATH_SEG_RE = re.compile(
    r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|(?<![\\\d])\$((?:\\\$|[^$\n])+?)\$", re.S
)


def _math_fallback(text: str) -> str | None:
    """No boxed answer and no answer phrase: the last math of the last paragraph (its right-hand
    side when it is an equation), else the last number; None for a completion cut off mid-way
    (max_tokens), whose last math is not an answer."""
    if _looks_truncated(text):
        return None
    tail = text.strip()[-1500:]
    paras = [p for p in re.split(r"\n\s*\n", tail) if p.strip()]
    last_para = paras[-1] if paras else tail
    segs = [next(g for g in m.groups() if g is not None) for m in _MATH_SEG_RE.finditer(last_para)]
    segs = [g for g in segs if re.sub(r"\\boxed\s*\{\s*\}|\s", "", g)]
    if segs:
        # "$x = 2$ and $x = 3$": the last math and the spans joined to it by and/or/commas
        ms = [
            m
            for m in _MATH_SEG_RE.finditer(last_para)
            if re.sub(r"\\boxed\s*\{\s*\}|\s", "", next(g for g in m.groups() if g is not None))
        ]
        group = [ms[-1]]
        for m in reversed(ms[:-1]):
            between = last_para[m.end() : group[0].start()]
            jm = _JOIN_RE.match(between + "$")
            if not jm or jm.end() != len(between) or len(group) >= 10:
                break
            group.insert(0, m)
        if len(group) > 1:
            return ", ".join(_rhs(next(g for g in m.groups() if g is not None)) for m in group)
        seg = segs[-1].strip()
        parts = re.split(r"(?<![<>!\\])=", seg)
        seg = parts[-1].strip() if len(parts) > 1 and parts[-1].strip() else seg
        head, _, approx = seg.partition("\\approx")
        # "x \approx 17": a variable before it, the value after; else the exact value before
        seg = approx if approx.strip() and re.fullmatch(r"\s*[a-zA-Z]?\s*", head) else head
        return seg.strip().rstrip(".").strip() or None
    clock = _LAST_TIME_RE.search(last_para)
    if clock:  # "The train leaves at 4:15 p.m.": a clock time, not its minutes
        return clock.group(1)
    return _last_free_number(last_para)


#: a clock time with nothing numeric after it, at the end of a paragraph
_LAST_TIME_RE = re.compile(
    r"(?<![\d:.])(\d{1,2}:\d{2}(?:\s*[ap]\.?\s?m\.?)?)(?![\d:])[^\d]{0,40}$", re.I
)


#: characters that make a number touching them part of a LaTeX or arithmetic expression
_EXPR_BEFORE = set("\\{}^_/*+-=([,|!") | set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_EXPR_AFTER = set("\\{}^_/*+=)],|!") | set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _last_free_number(text: str) -> str | None:
    """MATH's last resort: the last number of ``text`` when it stands alone, never one cut out
    of an expression (``3/4``, ``5\\sqrt{2}``, ``(2,-7)``, ``2^{10}``); None otherwise."""
    s = clean_number_text(text)
    s = re.sub(r"(?im)\bstep\s*\d+\s*[:.)]|^[ \t#*]*\d+[.)][ \t]+(?=\S)", " ", s)
    matches = list(NUM_RE.finditer(s))
    if not matches:
        return None
    m = matches[-1]
    before = s[: m.start()].rstrip()
    after = s[m.end() :].lstrip()
    if after[:1] == "." and after[1:2].isdigit():
        return None
    touch_before = m.start() > 0 and s[m.start() - 1] in _EXPR_BEFORE
    touch_after = m.end() < len(s) and s[m.end()] in _EXPR_AFTER
    op_before = before[-1:] in tuple("/*^_\\{=")
    op_after = after[:1] in tuple("/*^_\\+-=") and after[:2] != "- "
    if touch_before or touch_after or (op_before and before[-1:] != "=") or op_after:
        return None
    return m.group(0).replace(",", "")


_TRUNCATED_END_RE = re.compile(
    r"(?:[=+\-*/^_,:;({\[&\\]|\b(?:so|then|and|or|is|are|was|be|of|the|we|get|to|by|with|that|"
    r"which|gives|a|an|as|for|in|at|from|this|it|has|have|can|will|let|since|because|if|"
    r"therefore|thus|hence|equals?|find|compute|need|know))\s*$",
    re.I,
)


def _looks_truncated(text: str) -> bool:
    """A completion that stops mid-sentence or mid-formula (cut at max_tokens)."""
    t = text.rstrip()
    if not t:
        return True
    if _TRUNCATED_END_RE.search(t[-40:]):
        return True
    # an open inline math span: an odd number of unescaped '$' (display $$ counts twice) with
    # formula text after the last one (not a price: "costs $5.")
    dollars = [m.end() for m in re.finditer(r"(?<!\\)\$", t[-20000:])]
    if len(dollars) % 2 == 1 and re.search(r"[\\^_{=]", t[-20000:][dollars[-1] :]):
        return True
    return t.count("\\[") > t.count("\\]") or t.count("\\(") > t.count("\\)")


def _rhs(seg: str) -> str:
    parts = re.split(r"(?<![<>!\\])=", seg.strip())
    return parts[-1].strip() if len(parts) > 1 and parts[-1].strip() else seg.strip()


# ---------------------------------------------------------------------------------------------
# Gold answers: the datasets' own conventions (what `lema data` writes in the `answer` column)
# ---------------------------------------------------------------------------------------------

_GOLD_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` or ``\\fbox{...}`` in ``text`` (nested braces;
    ``\\{`` and ``\\}`` do not count), or of ``\\boxed 5`` (up to the next ``$``).
    None when there is none or its braces do not close.

    The MATH gold-answer convention, stricter than the completion reader
    (``lema.grading.latex.find_boxed``: it also reads ``\\framebox``, takes the rest of an
    unclosed box, and skips boxes nested in a box)."""
    matches = list(_GOLD_BOX_RE.finditer(text))
    if not matches:
        return None
    i = matches[-1].end()
    n = len(text)
    while i < n and text[i] in " \t":
        i += 1
    if i < n and text[i] == "{":
        depth, j, start = 0, i, i + 1
        while j < n:
            c = text[j]
            if c == "\\":
                j += 2
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return text[start:j].strip()
            j += 1
        return None
    if i > matches[-1].end():  # "\boxed 5$": up to the next $ (the Hendrycks convention)
        return text[i:].split("$", 1)[0].strip() or None
    return None


def gold_answer(solution: str, task: str) -> str | None:
    """The dataset's own answer of a gold solution: GSM8K's text after the last '####' (commas
    removed; None when absent or empty), MATH's last ``\\boxed{}`` content (``last_boxed``)."""
    task = check_task(task)
    if task == "gsm8k":
        if "####" not in solution:
            return None
        return solution.rsplit("####", 1)[1].strip().replace(",", "") or None
    return last_boxed(solution)


#: a gold answer that is a whole solution rather than an answer: a box not at its start, a
#: GSM8K "####" line, an answer statement
_GOLD_SOLUTION_RE = re.compile(
    r"####|.\\(?:boxed|fbox)(?![A-Za-z])|\banswer\s*(?:is\b|:)|\bfinal\s+answer\b", re.I | re.S
)
#: longest gold answer read as an answer as it stands (longer ones with prose are solutions)
MAX_GOLD_ANSWER_CHARS = 120


def gold_value(gold: str, task: str) -> str:
    """The answer a gold string gives: ``gold`` itself when it is an answer (every gold of the
    raw tables), else, for a whole solution (users' ``lema eval`` files, other benchmarks), the
    dataset convention (``gold_answer``: after "####", the last box) or what ``extract_answer``
    reads in it; ``gold`` unchanged when neither finds anything."""
    task = check_task(task)
    long_prose = len(gold) > MAX_GOLD_ANSWER_CHARS and len(re.findall(r"[A-Za-z]{3,}", gold)) > 8
    if not long_prose and not _GOLD_SOLUTION_RE.search(gold):
        return gold
    if task == "math" and re.match(r"\s*\$?\s*\\(?:boxed|fbox)", gold) and not long_prose:
        return gold  # "\boxed{5}": normalisation unwraps it
    return gold_answer(gold, task) or extract_answer(gold, task) or gold
