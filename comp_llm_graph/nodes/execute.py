"""Query executor: one `Send` branch per sub-query, as parallel as the dependencies allow.

`dispatch` runs after planning and after each round of branches (`collect`): it sends every
sub-query whose dependencies have all answered (in `sequential` mode, only the first of them), or
moves on to `aggregate` when every sub-query has answered. Each branch writes its own result, so a
checkpointer saves every finished sub-query. `max_concurrency` in the run config caps how many
branches run at once.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Send

from comp_llm_graph.context import Context
from comp_llm_graph.experts.registry import ExpertRegistry
from comp_llm_graph.plan import substitute_references
from comp_llm_graph.state import Branch, State, SubAnswer, SubQuery

__all__ = [
    "answer_block",
    "collect",
    "dispatch",
    "expert_input",
    "make_execute_subquery",
    "short_answer",
]

CONTEXT_HEADER = "Answers to earlier sub-questions:\n"
SHORT_ANSWER_CHARS = 200


def ready_sub_queries(plan: list[SubQuery], answers: dict[str, SubAnswer]) -> list[SubQuery]:
    """Unanswered sub-queries whose dependencies have all answered, in plan order."""
    return [
        sub for sub in plan
        if sub["id"] not in answers and all(dep in answers for dep in sub["depends_on"])
    ]


def dispatch(state: State, runtime: Runtime[Context]) -> list[Send] | Literal["aggregate"]:
    """Send the ready sub-queries to `execute_subquery`, or go to `aggregate` when all are done."""
    plan, answers = state["plan"], state.get("answers") or {}
    if all(sub["id"] in answers for sub in plan):
        return "aggregate"
    ready = ready_sub_queries(plan, answers)
    if not ready:  # cannot happen for a validated plan; never drop work silently
        missing = [sub["id"] for sub in plan if sub["id"] not in answers]
        raise RuntimeError(f"sub-queries {missing} can never run: their dependencies are missing")
    mode = (runtime.context or Context()).mode
    if mode in ("sequential", "monolithic"):
        ready = ready[:1]
    return [
        Send("execute_subquery", Branch(
            sub_query=sub, dependencies={dep: answers[dep] for dep in sub["depends_on"]}))
        for sub in ready
    ]


def short_answer(answer: str) -> str:
    """An answer as substituted into a dependent question: first line, at most 200 characters."""
    first = answer.strip().splitlines()[0].strip() if answer.strip() else ""
    if len(first) <= SHORT_ANSWER_CHARS:
        return first
    return first[:SHORT_ANSWER_CHARS].rstrip() + "..."


def answer_block(answer: SubAnswer) -> str:
    """A sub-answer as shown to later experts and the aggregator: `[id] question` / `=> answer`."""
    text = answer["answer"].strip() or f"(no answer: {answer['error']})"
    return f"[{answer['id']}] {answer['question']}\n=> {text}"


def expert_input(sub: SubQuery, dependencies: dict[str, SubAnswer]) -> dict[str, str]:
    """The expert's input: the question with references substituted, and earlier answers."""
    question = substitute_references(
        sub["question"], {dep: short_answer(a["answer"]) for dep, a in dependencies.items()}
    )
    context = ""
    if dependencies:
        blocks = [answer_block(answer) for answer in dependencies.values()]
        context = CONTEXT_HEADER + "\n".join(blocks) + "\n\n"
    return {"question": question, "context": context}


def _answer_text(output: Any) -> tuple[str, int | None]:
    usage = getattr(output, "usage_metadata", None)
    tokens = usage.get("output_tokens") if usage else None
    if isinstance(output, dict) and "answer" in output:
        output = output["answer"]
    content = getattr(output, "content", output)
    if isinstance(content, list):
        content = "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content).strip(), tokens


def make_execute_subquery(registry: ExpertRegistry):
    """Build the `execute_subquery` node: run one sub-query on its expert."""

    async def execute_subquery(branch: Branch) -> dict[str, Any]:
        sub = branch["sub_query"]
        payload = expert_input(sub, branch["dependencies"])
        started = time.time()
        error: str | None = None
        answer, tokens = "", None
        try:
            expert = registry.expert(sub["expert"])
            answer, tokens = _answer_text(await expert.ainvoke(payload))
        except Exception as exc:  # noqa: BLE001 - recorded in the state and shown to the user
            error = f"{type(exc).__name__}: {exc}"
        if not answer and error is None:
            error = "the expert returned an empty answer"
        result = SubAnswer(id=sub["id"], question=payload["question"], expert=sub["expert"],
                           answer=answer, error=error, started_at=started,
                           finished_at=time.time())
        if tokens is not None:
            result["output_tokens"] = tokens
        return {"answers": {sub["id"]: result}}

    return execute_subquery


async def collect(state: State) -> dict[str, Any]:
    """Join point after each round of branches; `dispatch` decides what runs next."""
    return {}
