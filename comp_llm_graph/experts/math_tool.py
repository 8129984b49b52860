"""A tool-backed expert: exact arithmetic with sympy, falling back to an LLM expert.

Exact arithmetic can be unbounded work ("What is 9^9^7?" has 4.5 million digits), so an
expression is evaluated only after two guards, and never on the event loop:
- its size is bounded from the expression itself (`estimate_digits`): a walk of its syntax tree
  bounds, in log space, the digits of every intermediate value without computing one, and
  refuses more than `MAX_RESULT_DIGITS`, a root of more than `MAX_ROOT_DIGITS` (sympy's roots
  of big numbers are slow), more than `MAX_EXPRESSION_CHARS` or deeper than `MAX_NESTING`;
- the evaluation runs in a separate process with a time limit (`math_worker`), for what the
  estimate lets through but is still slow; an async caller awaits it from a thread.
A refused or timed-out expression goes to the fallback LLM, as a question without one does.
"""

from __future__ import annotations

import ast
import math
import re
from fractions import Fraction
from itertools import accumulate
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

from comp_llm_graph.experts.math_worker import DEFAULT_TIMEOUT, shared_worker

__all__ = ["DEFAULT_TIMEOUT", "MAX_EXPRESSION_CHARS", "MAX_NESTING", "MAX_QUESTION_CHARS",
           "MAX_RESULT_DIGITS", "MAX_ROOT_DIGITS", "aevaluate_arithmetic", "arithmetic_text",
           "estimate_digits", "evaluate_arithmetic", "find_expression", "sympy_expert"]

MAX_QUESTION_CHARS = 4_000
"""Characters of a question that `find_expression` reads (the whole query's limit anyway)."""
MAX_EXPRESSION_CHARS = 500
"""Longest expression evaluated; a longer one is not a question's arithmetic."""
MAX_NESTING = 20
"""Deepest parenthesis nesting evaluated."""
MAX_RESULT_DIGITS = 10_000
"""Most digits (of a numerator or denominator) of the result or of any intermediate value."""
MAX_ROOT_DIGITS = 1_000
"""Most digits of a number under a root (sqrt, or a power whose exponent is not a whole
literal): sympy's root of a 2,400-digit number takes seconds, of 10,000 digits minutes."""

_NUMBER = r"\d+(?:\.\d+)?"
_WORDS = [
    (r"(?<=\d),(?=\d{3}(?!\d))", ""),  # thousands separators: 1,234,567 -> 1234567
    (rf"(?<!\d)({_NUMBER})\s*(?:%|percent)\s*of\s*", r"(\1/100)*"),
    (rf"(?<![\d.])({_NUMBER}\s*/\s*{_NUMBER})\s+of\s+(?=[\d(])", r"(\1)*"),  # 3/4 of 100
    (r"\b(?:one\s+|a\s+)?half\s+of\s+(?=[\d(])", "(1/2)*"),
    (r"\b(?:one\s+|a\s+)?third\s+of\s+(?=[\d(])", "(1/3)*"),
    (r"\b(?:one\s+|a\s+)?quarter\s+of\s+(?=[\d(])", "(1/4)*"),
    (r"\btwice\s+(?=[\d(])", "2*"),
    (r"\bmultiplied by\b|\btimes\b", "*"),
    (r"\bdivided by\b|\bover\b", "/"),
    (r"\bplus\b|\badded to\b", "+"),
    (r"\bminus\b", "-"),
    (r"\bto the power of\b|\braised to\b", "**"),
    (r"\bsquared\b", "**2"),
    (r"\bcubed\b", "**3"),
    (r"\bsquare root of\s*(\d+(?:\.\d+)?)", r"sqrt(\1)"),
    (r"\^", "**"),
    (r"[x\u00d7]", "*"),
    (r"\u00f7", "/"),
]
# An expression is what `(?:sqrt)?[\d(][\d\s.+\-*/()%sqrt]*[\d)]` matches; found in linear time
# as a run of allowed characters, from its first start to its last closing character (that
# regex, with its backtracking, took seconds on a long run of "(").
_RUN = re.compile(r"[\d\s.+\-*/()%sqrt]+")
_START = re.compile(r"sqrt[\d(]|-?[\d(]")
_ALLOWED = re.compile(r"^[\d\s.+\-*/()%sqrt]+$")
_LOG2 = math.log10(2)
_REFUSED = (ValueError, TypeError, ZeroDivisionError, SyntaxError, ArithmeticError)


def arithmetic_text(question: str) -> str:
    """The question in lower case with its arithmetic words as operators ("times" -> "*")."""
    text = question[:MAX_QUESTION_CHARS].lower()
    for pattern, replacement in _WORDS:
        text = re.sub(pattern, replacement, text)
    return text


def find_expression(question: str) -> str | None:
    """The question's arithmetic expression, or None when there is none or it is not clear.

    Not clear (the question then goes to the fallback model, whose answer is not presented
    as exact): a number of the question outside the expression ("call 555-867-5309 and tell me
    2+2", "in 1990, what was 5 + 5"), or a name right before it (`factorial(10**6)`,
    `log(2+3)`), or `%` between numbers; evaluating only part of what was asked, or a guess
    at what it means, gives a wrong answer stated as exact.
    """
    text = arithmetic_text(question)
    candidates = []
    for run in _RUN.finditer(text):
        start, end = _START.search(run.group(0)), max(run.group(0).rfind(c) for c in "0123456789)")
        if start is not None and end > start.end() - 1:
            span = (run.start() + start.start(), run.start() + end + 1)
            candidates.append((text[span[0]:span[1]].strip(), span))
    candidates = [c for c in candidates
                  if re.search(r"[+\-*/%]|sqrt", c[0]) and _ALLOWED.match(c[0])]
    if not candidates:
        return None
    expression, (first, last) = max(candidates, key=lambda c: len(c[0]))
    numbers = [m.span() for m in re.finditer(r"\d", text)]
    if (any(not first <= a < last for a, _ in numbers) or re.search(r"[a-z_]$", text[:first])
            or re.search(r"%\s*[\d(]", expression)):  # 15 % 4: a remainder or a percentage?
        return None
    return expression


def _digits(log_digits: float) -> str:
    return f"{math.ceil(10 ** log_digits):,}" if log_digits < 6 else f"10^{log_digits:.0f}"


def _too_large(log_digits: float, prefix: str = "result too large to evaluate exactly:"):
    return ValueError(f"{prefix} about {_digits(log_digits)} digits (limit {MAX_RESULT_DIGITS:,})")


def _check_root(size: float) -> None:
    if size > MAX_ROOT_DIGITS:
        raise ValueError(f"root of a number too large to evaluate exactly: about "
                         f"{_digits(math.log10(size))} digits (limit {MAX_ROOT_DIGITS:,})")


def _whole_literal(node: ast.AST) -> bool:
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) is int


def _bound(node: ast.AST, source: str) -> tuple[float, float, float]:
    """(size, mag, low): log10 bounds, found without computing the value.

    size bounds max(|numerator|, denominator) from above, mag |value| from above, low a nonzero
    |value| from below. Sums and products add sizes; `a**b` multiplies a's size by a bound of
    |b|, in log space, so that 9**9**7 (= 9**(9**7), its exponent bounded first) is never built.
    """
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = Fraction(ast.get_source_segment(source, node))
        size = math.log10(max(abs(value.numerator), value.denominator))
        if not value:
            return size, -math.inf, 0.0
        mag = math.log10(abs(value.numerator)) - math.log10(value.denominator)
        return size, mag, mag
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        return _bound(node.operand, source)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sqrt"
            and len(node.args) == 1 and not node.keywords):
        size, mag, low = _bound(node.args[0], source)
        _check_root(size)
        return size / 2, mag / 2, low / 2
    if not isinstance(node, ast.BinOp):
        raise ValueError(f"not an arithmetic expression: {ast.get_source_segment(source, node)!r}")
    (a_size, a_mag, a_low), (b_size, b_mag, b_low) = (_bound(node.left, source),
                                                      _bound(node.right, source))
    low = -math.inf  # at least 10**-size (a nonzero fraction's), below
    if isinstance(node.op, (ast.Add, ast.Sub)):
        size, mag = a_size + b_size + _LOG2, max(a_mag, b_mag) + _LOG2
    elif isinstance(node.op, ast.Mult):
        size, mag, low = a_size + b_size, a_mag + b_mag, a_low + b_low
    elif isinstance(node.op, (ast.Div, ast.FloorDiv)):
        size, mag, low = a_size + b_size, a_mag - b_low + _LOG2, a_low - b_mag - _LOG2
    elif isinstance(node.op, ast.Pow):
        if not _whole_literal(node.right):
            _check_root(a_size)
        if a_size == 0 or b_mag == -math.inf:  # 0, 1 or -1 to any power; anything to the 0th
            return 0.0, 0.0, 0.0
        log_size = math.log10(a_size) + b_mag  # log10(a_size * |b|), |b| <= 10**b_mag
        if log_size > math.log10(MAX_RESULT_DIGITS):
            raise _too_large(log_size, "exponent too large to evaluate exactly: the result has")
        size = mag = 10 ** log_size
    else:
        raise ValueError(f"unsupported operator in {ast.get_source_segment(source, node)!r}")
    if size > MAX_RESULT_DIGITS:
        raise _too_large(math.log10(size))
    return size, min(mag, size), max(low, -size)


def estimate_digits(expression: str) -> float:
    """An upper bound of the digits of the expression's value and of every intermediate one.

    Raises:
        ValueError: it is too long, too deeply nested, not arithmetic, or some value would have
            more than `MAX_RESULT_DIGITS` digits ("... too large to evaluate exactly ...").
    """
    if not _ALLOWED.match(expression):
        raise ValueError(f"not an arithmetic expression: {expression!r}")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ValueError(f"expression too long to evaluate: {len(expression):,} characters "
                         f"(limit {MAX_EXPRESSION_CHARS})")
    deepest = max(accumulate((c == "(") - (c == ")") for c in expression), default=0)
    if deepest > MAX_NESTING:
        raise ValueError(f"expression nested too deeply: {deepest} levels (limit {MAX_NESTING})")
    source = expression.replace("%", "/100").strip()
    try:
        tree = ast.parse(source, mode="eval")
        return _bound(tree.body, source)[0] + 1
    except (SyntaxError, RecursionError) as exc:
        raise ValueError(f"not an arithmetic expression: {expression!r}") from exc


def evaluate_arithmetic(expression: str, *, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Evaluate an arithmetic expression exactly; an integer, a fraction or a short decimal.

    The size guards run here; the evaluation in the sympy worker process, which is killed past
    `timeout` seconds (`math_worker.EvaluationTimeout`, a ValueError). Blocks the calling thread.
    """
    estimate_digits(expression)
    return shared_worker().evaluate(expression, timeout)


async def aevaluate_arithmetic(expression: str, *, timeout: float = DEFAULT_TIMEOUT) -> str:
    """`evaluate_arithmetic` for async code: the event loop runs on while the worker computes."""
    estimate_digits(expression)
    return await shared_worker().aevaluate(expression, timeout)


def _unanswered(expression: str | None, reason: str | None) -> str:
    if expression is None:
        return "No arithmetic expression found, and this expert has no fallback model."
    shown = expression if len(expression) <= 60 else expression[:57] + "..."
    return f"Could not evaluate {shown} exactly ({reason}), and this expert has no fallback model."


def sympy_expert(fallback: Runnable | None, *, timeout: float = DEFAULT_TIMEOUT) -> Runnable:
    """An expert that answers arithmetic exactly and hands anything else to `fallback`.

    `timeout`: seconds one evaluation may take in the worker; past it (or when the size guards
    refuse the expression) the question goes to `fallback` like one without arithmetic.
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")

    async def acompute(payload: dict[str, Any]) -> Any:
        expression, reason = find_expression(payload["question"]), None
        try:
            if expression is not None:
                return f"{expression} = {await aevaluate_arithmetic(expression, timeout=timeout)}"
        except _REFUSED as exc:
            reason = str(exc)
        if fallback is None:
            return _unanswered(expression, reason)
        return await fallback.ainvoke(payload)

    def compute_sync(payload: dict[str, Any]) -> Any:
        expression, reason = find_expression(payload["question"]), None
        try:
            if expression is not None:
                return f"{expression} = {evaluate_arithmetic(expression, timeout=timeout)}"
        except _REFUSED as exc:
            reason = str(exc)
        return _unanswered(expression, reason) if fallback is None else fallback.invoke(payload)

    return RunnableLambda(compute_sync, afunc=acompute, name="sympy_math")
