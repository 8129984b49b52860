"""Arithmetic phrasings with their right values, or None where no exact answer is right.

The math expert states an answer as exact only when the question's arithmetic is clear
(`experts.math_tool.find_expression`); these phrasings are its regression set, used by the
unit tests and by `comp-llm bench reliability` ("arithmetic phrasings").
"""

from __future__ import annotations

__all__ = ["PHRASINGS"]

PHRASINGS: list[tuple[str, str | None]] = [
    # signs and separators
    ("What is -5 + 3?", "-2"),
    ("What is 10 - -3?", "13"),
    ("What is 8 - 10?", "-2"),
    ("What is 5-3?", "2"),
    ("What is 1,000,000 divided by 4?", "250000"),
    ("What is 1,234,567 + 1?", "1234568"),
    ("What is 12,000 minus 2,500?", "9500"),
    ("How much is 2,500 times 4?", "10000"),
    # words for operators
    ("What is 12 times 12?", "144"),
    ("What is 7 x 8?", "56"),
    ("What is 1.5 times 4?", "6"),
    ("What is 100 minus 7 minus 3?", "90"),
    ("What is 3 plus 4 times 2?", "11"),
    ("What is 9 multiplied by 6?", "54"),
    ("What is 81 divided by 9?", "9"),
    ("What is 20 added to 22?", "42"),
    ("What is 2 to the power of 8?", "256"),
    ("What is 3 raised to 4?", "81"),
    ("How much is 12 squared?", "144"),
    ("What is 4 cubed?", "64"),
    ("What is the square root of 144?", "12"),
    ("What is 2^10?", "1024"),
    ("Compute 12*12.", "144"),
    ("What is (2+3)*4?", "20"),
    # parts of a number
    ("What is 3/4 of 100?", "75"),
    ("What is 2/3 of 9?", "6"),
    ("What is 25% of 80?", "20"),
    ("What is 10 percent of 250?", "25"),
    ("What is half of 50?", "25"),
    ("What is a third of 33?", "11"),
    ("What is a quarter of 20?", "5"),
    ("What is twice 21?", "42"),
    ("What is 10 / 4?", "5/2 (2.5)"),
    ("What is 0.1 + 0.2?", "3/10 (0.3)"),
    # not clear: not evaluated exactly
    ("What is factorial(10**6)?", None),
    ("Call 555-867-5309 and tell me 2+2", None),
    ("In 1990, what was 5 + 5?", None),
    ("What is 1e3 + 1?", None),
    ("What is 15 % 4?", None),
    ("What is 5 mod 3?", None),
    ("What is log(100)?", None),
    ("If I have 3 apples and buy 4 more, how many do I have?", None),
    ("Who wrote Hamlet?", None),
    ("What is sin(30) + 1?", None),
]
"""(question, exact value as the evaluator writes it, or None: not evaluated exactly)."""
