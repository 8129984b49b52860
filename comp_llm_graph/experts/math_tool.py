"""A tool-backed expert: exact arithmetic with sympy, falling back to an LLM expert."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

__all__ = ["evaluate_arithmetic", "find_expression", "sympy_expert"]

_WORDS = [
    (r"(\d+(?:\.\d+)?)\s*(?:%|percent)\s*of\s*", r"(\1/100)*"),
    (r"\bmultiplied by\b|\btimes\b", "*"),
    (r"\bdivided by\b|\bover\b", "/"),
    (r"\bplus\b|\badded to\b", "+"),
    (r"\bminus\b", "-"),
    (r"\bto the power of\b|\braised to\b", "**"),
    (r"\bsquared\b", "**2"),
    (r"\bcubed\b", "**3"),
    (r"\bsquare root of\s*(\d+(?:\.\d+)?)", r"sqrt(\1)"),
    (r"(\d),(\d{3})", r"\1\2"),
    (r"\^", "**"),
    (r"[x\u00d7]", "*"),
    (r"\u00f7", "/"),
]
_EXPRESSION = re.compile(r"(?:sqrt)?[\d(][\d\s.+\-*/()%sqrt]*[\d)]")
_ALLOWED = re.compile(r"^[\d\s.+\-*/()%sqrt]+$")


def find_expression(question: str) -> str | None:
    """The longest arithmetic expression in the question, or None if there is none."""
    text = question.lower()
    for pattern, replacement in _WORDS:
        text = re.sub(pattern, replacement, text)
    candidates = [m.group(0).strip() for m in _EXPRESSION.finditer(text)]
    candidates = [c for c in candidates if re.search(r"[+\-*/%]|sqrt", c) and _ALLOWED.match(c)]
    return max(candidates, key=len) if candidates else None


def evaluate_arithmetic(expression: str) -> str:
    """Evaluate an arithmetic expression exactly; an integer, a fraction or a short decimal."""
    from sympy import sympify

    if not _ALLOWED.match(expression):
        raise ValueError(f"not an arithmetic expression: {expression!r}")
    if expression.count("**") > 2 or re.search(r"\*\*\s*\(?\s*\d{4,}", expression):
        raise ValueError(f"exponent too large to evaluate: {expression!r}")
    value = sympify(expression.replace("%", "/100"), rational=True)
    if not value.is_number:
        raise ValueError(f"not a number: {expression!r}")
    if value.is_Integer:
        return str(int(value))
    if value.is_Rational:
        return f"{value} ({float(value):.6g})"
    return f"{float(value.evalf()):.6g}"


def sympy_expert(fallback: Runnable | None) -> Runnable:
    """An expert that answers arithmetic exactly and hands anything else to `fallback`."""

    def compute(payload: dict[str, Any]) -> Any:
        expression = find_expression(payload["question"])
        if expression is not None:
            try:
                return f"{expression} = {evaluate_arithmetic(expression)}"
            except (ValueError, TypeError, ZeroDivisionError, SyntaxError, ArithmeticError):
                pass
        if fallback is None:
            return "No arithmetic expression found, and this expert has no fallback model."
        return None

    async def acompute(payload: dict[str, Any]) -> Any:
        answer = compute(payload)
        return answer if answer is not None else await fallback.ainvoke(payload)

    def compute_sync(payload: dict[str, Any]) -> Any:
        answer = compute(payload)
        return answer if answer is not None else fallback.invoke(payload)

    return RunnableLambda(compute_sync, afunc=acompute, name="sympy_math")
