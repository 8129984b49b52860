"""The math expert: a model writes the computation (a program of thought), the evaluator runs it.

A bare arithmetic question ("What is 15% of 240?") is computed exactly by sympy with no model call
(`math_tool.py`). Anything else, a word problem, goes to the card's model, which writes a short
program in the restricted language of `program.py`; the program runs in the bounded math worker
(a separate process with time and memory limits, `math_worker.py`), never through `eval`/`exec`.
A multiple-choice or yes/no question goes straight to `fallback`, which scores its options (a
program's number cannot name an option). A refused or failing program is sent back once with the
reason; if the second one fails too, the question goes to `fallback` (the same model answering in
words) and the reply says so in its metadata. Measured on GSM8K in docs/models.md: more right
answers than the same model in free text, in less time and fewer tokens.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableLambda

from comp_llm_graph.experts.answer_form import answer_form
from comp_llm_graph.experts.math_tool import (
    aevaluate_arithmetic,
    arithmetic_text,
    evaluate_arithmetic,
    find_expression,
)
from comp_llm_graph.experts.math_worker import shared_worker
from comp_llm_graph.experts.program import ProgramError, check_program, extract_program
from comp_llm_graph.prompts import PROGRAM_REPAIR_PROMPT, PROGRAM_SYSTEM_PROMPT

__all__ = ["PROGRAM_TIMEOUT", "bare_expression", "program_expert", "program_messages"]

PROGRAM_TIMEOUT = 5.0
"""Seconds one program may run in the worker."""
_LEAD = re.compile(r"^\s*(what\s+is|what's|how\s+much\s+is|calculate|compute|evaluate|find)\b")
_REFUSED = (ValueError, TypeError, ArithmeticError)
def bare_expression(question: str) -> str | None:
    """The arithmetic expression a question consists of ("What is 12 * (3 + 4)?"), else None.

    Only when nothing but a lead ("what is", "calculate") and punctuation is left around it: a
    word problem, a sign or a digit group the expression finder does not read (-5, 1,000,000)
    goes to the program path instead, where a model reads the whole question.
    """
    text = question.strip()
    if len(text) > 200 or re.search(r"\d,\d|(?<![\w)])-\s*\d|\d\s*/\s*\d+\s+of\b", text):
        return None
    expression = find_expression(text)
    if expression is None:
        return None
    rest = _LEAD.sub("", arithmetic_text(text)).strip(" ?.!=:")
    rest = re.sub(r"\s+", "", rest)
    return expression if rest == re.sub(r"\s+", "", expression) else None


def program_messages(question: str, context: str = "",
                     system_prompt: str = PROGRAM_SYSTEM_PROMPT) -> list[BaseMessage]:
    """The messages asking a model for a program that answers `question`.

    Zero-shot: example programs as earlier turns made the 1.5B copy their variables
    (`prompts.py`).
    """
    from langchain_core.messages import SystemMessage

    text = f"{context.strip()}\n\nProblem: {question}" if context.strip() else question
    return [SystemMessage(system_prompt), HumanMessage(text)]


def _scored_form(question: str) -> bool:
    """A choice or yes/no question: the fallback scores its options (a number cannot answer)."""
    return answer_form(question).kind in ("choice", "yesno")


def _usage(replies: list[Any]) -> dict[str, int]:
    total = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    for reply in replies:
        for key in total:
            total[key] += (getattr(reply, "usage_metadata", None) or {}).get(key, 0)
    return total


def _answer(value: str, program: str, replies: list[Any], attempts: int) -> AIMessage:
    return AIMessage(content=value, usage_metadata=_usage(replies), response_metadata={
        "method": "program", "program": program, "attempts": attempts})


def _repair(messages: list[BaseMessage], reply: Any, error: str) -> list[BaseMessage]:
    return [*messages, AIMessage(str(reply.content)),
            HumanMessage(PROGRAM_REPAIR_PROMPT.format(error=error[:300]))]


def _fell_back(output: Any, errors: list[str], replies: list[Any]) -> Any:
    if isinstance(output, AIMessage):
        usage = _usage([*replies, output])
        output.usage_metadata = usage
        output.response_metadata.update({"method": "fallback", "program_errors": errors})
    return output


def program_expert(chat_model: Runnable, *, fallback: Runnable | None = None,
                   timeout: float = PROGRAM_TIMEOUT, repairs: int = 1,
                   system_prompt: str = PROGRAM_SYSTEM_PROMPT) -> Runnable:
    """The math expert on `chat_model` (input `{"question", "context"}`; module docstring).

    Args:
        chat_model: Writes the programs (a catalogue model: the Coder models write them well).
        fallback: Answers when no program ran (None: the reply says no program ran).
        timeout: Seconds one program (or bare expression) may run in the worker.
        repairs: Programs asked again with the reason after a failure.
        system_prompt: The instructions (the language's rules).
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")

    def unanswered(errors: list[str]) -> AIMessage:
        return AIMessage(f"No program ran ({errors[-1]}), and this expert has no fallback.",
                         response_metadata={"method": "none", "program_errors": errors})

    def run_checked(program: str) -> str:
        check_program(program)  # refused here, with its reason, before reaching the worker
        return shared_worker().evaluate({"program": program}, timeout)

    async def arun_checked(program: str) -> str:
        check_program(program)
        return await shared_worker().aevaluate({"program": program}, timeout)

    def run(payload: dict[str, Any]) -> Any:
        question, context = payload["question"], payload.get("context", "")
        if fallback is not None and _scored_form(question):
            return fallback.invoke(payload)
        if (expression := bare_expression(question)) is not None:
            try:
                return f"{expression} = {evaluate_arithmetic(expression, timeout=timeout)}"
            except _REFUSED:
                pass
        messages, replies, errors = program_messages(question, context, system_prompt), [], []
        for attempt in range(repairs + 1):
            reply = chat_model.invoke(messages)
            replies.append(reply)
            program = extract_program(str(reply.content))
            try:
                return _answer(run_checked(program), program, replies, attempt + 1)
            except (ProgramError, *_REFUSED) as exc:
                errors.append(str(exc))
                messages = _repair(messages, reply, str(exc))
        if fallback is None:
            return unanswered(errors)
        return _fell_back(fallback.invoke(payload), errors, replies)

    async def arun(payload: dict[str, Any]) -> Any:
        question, context = payload["question"], payload.get("context", "")
        if fallback is not None and _scored_form(question):
            return await fallback.ainvoke(payload)
        if (expression := bare_expression(question)) is not None:
            try:
                return f"{expression} = {await aevaluate_arithmetic(expression, timeout=timeout)}"
            except _REFUSED:
                pass
        messages, replies, errors = program_messages(question, context, system_prompt), [], []
        for attempt in range(repairs + 1):
            reply = await chat_model.ainvoke(messages)
            replies.append(reply)
            program = extract_program(str(reply.content))
            try:
                return _answer(await arun_checked(program), program, replies, attempt + 1)
            except (ProgramError, *_REFUSED) as exc:
                errors.append(str(exc))
                messages = _repair(messages, reply, str(exc))
        if fallback is None:
            return unanswered(errors)
        return _fell_back(await fallback.ainvoke(payload), errors, replies)

    expert = RunnableLambda(run, afunc=arun, name="program_of_thought")
    expert.chat_model = chat_model  # type: ignore[attr-defined]
    return expert
