"""How every stage grades: answer extraction, normalisation, equivalence, the sympy worker pool
and batch grading.

Modules, in the order an answer goes through them:

- :mod:`lema.grading.extract`: completion text -> answer string (``extract_answer``), and the
  datasets' gold-answer conventions (``gold_answer``, ``last_boxed``), and the answer of a gold
  given as a whole solution (``gold_value``, applied by ``equivalent``);
- :mod:`lema.grading.normalise`: numbers, units, canonical MATH strings (``normalize_math``);
- :mod:`lema.grading.equivalence`: structure and scalar comparison, ``equivalent``, ``grade``;
- :mod:`lema.grading.pool`: the sympy worker processes with a hard per-call deadline
  (``lema.grading.sympy_worker`` runs in them); ``shutdown`` stops them;
- :mod:`lema.grading.batch`: ``grade_batch``, many items at once with de-duplication, worker
  processes and a per-item hard time bound;
- :mod:`lema.grading.latex`: brace-aware helpers the others share;
- :mod:`lema.grading.choice`: multiple-choice letters (AQuA), short text answers (ASDiv), and
  CSQA's candidate answers: ``extract_candidate(completion, candidates)`` maps the last answer
  statement onto one candidate (a letter marker, the text after normalisation, the head of
  the clause, a candidate it begins with or the one it mentions, else the closest candidate
  by edit distance when similarity >= ``CLOSE_ENOUGH``), None when nothing is close or two
  candidates are named. ``extract_answer`` / ``equivalent`` / ``grade`` take the row's
  candidates as ``choices`` for a CSQA-kind task (the pred is the candidate's text);
- :mod:`lema.grading.paper_rule`: the paper's own rule (CSQA: the nearest candidate to the
  text after the last "The answer is", whatever the distance).

Callers import from ``lema.grading``; the submodules are for tests and the grader's own parts.
"""

from lema.grading.batch import GRADER, Graded, default_workers, grade_batch
from lema.grading.choice import extract_candidate, extract_choice, grade_choice, grade_text
from lema.grading.equivalence import equivalent, grade
from lema.grading.extract import TASKS, extract_answer, gold_answer, gold_value
from lema.grading.normalise import normalize_math
from lema.grading.paper_rule import PAPER_RULE, paper_correct
from lema.grading.pool import SYMPY_TIMEOUT_S, shutdown
from lema.grading.typed import ANSWER_TYPES, grade_typed, grading_kind, typed_item

__all__ = [
    "ANSWER_TYPES",
    "GRADER",
    "PAPER_RULE",
    "SYMPY_TIMEOUT_S",
    "TASKS",
    "Graded",
    "default_workers",
    "equivalent",
    "extract_answer",
    "extract_candidate",
    "extract_choice",
    "gold_answer",
    "gold_value",
    "grade",
    "grade_batch",
    "grade_choice",
    "grade_text",
    "grade_typed",
    "grading_kind",
    "normalize_math",
    "paper_correct",
    "shutdown",
    "typed_item",
]
