"""Prompts, as constants with named placeholders; each is overridable per run via `Context`."""

from __future__ import annotations

__all__ = [
    "LINES_PLANNER_EXAMPLES",
    "LINES_PLANNER_SYSTEM_PROMPT",
    "LINES_REPLAN_PROMPT",
    "AGGREGATOR_SYSTEM_PROMPT",
    "AGGREGATOR_USER_PROMPT",
    "EXPERT_USER_PROMPT",
    "FREE_TEXT_MATH_PROMPT",
    "PLANNER_EXAMPLES",
    "PROGRAM_REPAIR_PROMPT",
    "PROGRAM_SYSTEM_PROMPT",
    "PLANNER_SYSTEM_PROMPT",
    "REACT_GRAMMAR",
    "REACT_SYSTEM_PROMPT",
    "REACT_USER_PROMPT",
    "REPLAN_PROMPT",
]

PLANNER_SYSTEM_PROMPT = (
    "You split a question into at most {max_subqueries} simple sub-questions. Each sub-question "
    "has an id (q1, q2, ...), the question text, and depends_on: the ids of earlier "
    "sub-questions whose answers it needs. Write {{q1}} in a question to use the answer of q1. "
    "Sub-questions that do not need each other have depends_on []. Answer with JSON only."
)
"""System prompt of the sub-query generator; `{max_subqueries}` is filled in per run."""

PLANNER_EXAMPLES: list[tuple[str, str]] = [
    (
        "Who is the spouse of the performer of the album Green?",
        '{"subqueries": [{"id": "q1", "question": "Who performed the album Green?", '
        '"depends_on": []}, {"id": "q2", "question": "Who is the spouse of {q1}?", '
        '"depends_on": ["q1"]}]}',
    ),
    (
        "Is the Eiffel Tower taller than the Statue of Liberty?",
        '{"subqueries": [{"id": "q1", "question": "How tall is the Eiffel Tower?", '
        '"depends_on": []}, {"id": "q2", "question": "How tall is the Statue of Liberty?", '
        '"depends_on": []}, {"id": "q3", "question": "Is {q1} more than {q2}?", '
        '"depends_on": ["q1", "q2"]}]}',
    ),
]
"""Few-shot (question, plan) pairs shown to the planner as earlier turns."""

LINES_PLANNER_SYSTEM_PROMPT = (
    "You split a question into at most {max_subqueries} simple sub-questions, one per line: "
    "q1: ..., q2: ..., and so on. Write {{q1}} in a sub-question to use the answer of q1. "
    "Sub-questions that do not need each other do not mention each other. Write only the lines."
)
"""System prompt of a planner that writes one line per sub-query (`plan.LINES`): dependencies
are the `{qk}` references, so a plan costs a few tokens per sub-query instead of a JSON object."""

LINES_PLANNER_EXAMPLES: list[tuple[str, str]] = [
    ("Who is the spouse of the performer of the album Green?",
     "q1: Who performed the album Green?\nq2: Who is the spouse of {q1}?"),
    ("Is the Eiffel Tower taller than the Statue of Liberty?",
     "q1: How tall is the Eiffel Tower?\nq2: How tall is the Statue of Liberty?\n"
     "q3: Is {q1} more than {q2}?"),
]
"""The few-shot examples of `PLANNER_EXAMPLES`, in the line format."""

LINES_REPLAN_PROMPT = (
    "That plan cannot be used: {problems}. Write the plan again, one sub-question per line "
    "(q1: ..., q2: ...), at most {max_subqueries}, referring only to earlier ids."
)
"""`REPLAN_PROMPT` for the line format."""

REPLAN_PROMPT = (
    "That plan cannot be used: {problems}. Write the plan again as JSON, with at most "
    "{max_subqueries} sub-questions, unique ids, and depends_on naming only earlier ids."
)
"""Sent back to the planner once when its plan fails validation."""

EXPERT_USER_PROMPT = "{context}Question: {question}"
"""What an LLM expert receives; `{context}` holds earlier answers (or is empty)."""

AGGREGATOR_SYSTEM_PROMPT = (
    "You combine answers to sub-questions into one short, direct answer to the original "
    "question. Use the sub-answers; do not repeat the sub-questions."
)
"""System prompt of the response aggregator."""

AGGREGATOR_USER_PROMPT = "Original question: {query}\n\nSub-answers:\n{answers}\n\nFinal answer:"
"""The aggregator's input: the query and the delimited sub-answers."""

REACT_SYSTEM_PROMPT = (
    "You answer a question one step at a time. At each step, either ask one simple "
    "sub-question that an expert will answer, or finish when the answers so far are enough. "
    'Reply with JSON only: {"action": "ask", "question": "..."} or {"action": "finish"}.'
)
"""System prompt of the react baseline's `decide` step."""

REACT_USER_PROMPT = "Question: {query}\n\n{observations}Next step:"
"""The `decide` step's input: the query and the answers so far (or nothing)."""

REACT_GRAMMAR = (
    'root ::= "{\\"action\\": \\"ask\\", \\"question\\": \\"" [^"\\\\\\n]{3,160} '
    '"\\"}" | "{\\"action\\": \\"finish\\"}"'
)
"""xgrammar EBNF of a `decide` step's reply, for local models that support constrained decoding."""

PROGRAM_SYSTEM_PROMPT = (
    "Solve the problem by writing a short Python program. Give every quantity in the problem its "
    "own variable with a descriptive name, then compute the result from them. Use only "
    "assignments, arithmetic, comparisons, if statements, `for i in range(n)` loops, lists, and "
    "the functions abs, round, min, max, sum, len, int, float, floor, ceil, sqrt, gcd, lcm, "
    "factorial and comb. No imports, no print, no strings, no def. Store the final number in a "
    "variable named answer. Reply with the program only, in one ```python block."
)
"""System prompt of the math expert's program of thought (`experts/math_program.py`). Chosen on
16 GSM8K train problems with Qwen2.5-Coder-1.5B: 12 right at 4.0 s each; without the sentence on
names 10 at 2.8 s; asking for a comment per quantity 11 at 12.5 s; two hand-written example
programs as earlier turns made the model reuse their variables (1 of 12)."""

PROGRAM_REPAIR_PROMPT = (
    "That program could not run: {error}. Write it again within the rules, storing the final "
    "number in answer."
)
"""Asked once when a program is refused or fails; `{error}` says why."""

FREE_TEXT_MATH_PROMPT = (
    "Solve the problem step by step, then end with a line of the form 'The answer is N.' "
    "where N is a number."
)
"""System prompt of the free-text (chain of thought) baseline of `comp-llm eval math`."""
