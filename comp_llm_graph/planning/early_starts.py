"""Sub-queries started while the planner is still writing the plan (LLMCompiler's streaming idea).

The planner's tokens are read through LangChain's callbacks (`PlanWatcher.on_llm_new_token`), so
any chat model that streams starts sub-queries early: the embedded llama.cpp planners, a model
on an OpenAI-compatible server (vLLM, TGI, llama.cpp's server), any LangChain chat model. The
text so far is read by the same parser as the final plan (`plan.written_sub_queries`), and each
sub-query starts the moment its item (a JSON object, or a line) is complete and the sub-queries
it depends on have started: it is routed on its own and its expert called, while the planner
writes the next one. Planning then ends as usual (validation, repair, routing of the whole plan
in one batch), and `settle` keeps an early start only where the final sub-query is the same
(question, dependencies, expert) and every sub-query it depends on was kept; the others are
cancelled. The executor branch of a kept sub-query awaits the early answer instead of calling
the expert again, so every sub-query is still one `Send` branch with one result write.

An early start takes a scheduler slot like a branch, so the run's and the expert's
`max_concurrency` hold for it too. Only `mode="comp"` with `schedule="ready"` starts early.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler

from comp_llm_graph.planning.plan import (
    PlannedSubQuery,
    canonical_question,
    references,
    written_sub_queries,
)
from comp_llm_graph.scheduler import SCHEDULER
from comp_llm_graph.state import SubAnswer, SubQuery

__all__ = ["EARLY_STARTS", "MAX_KEPT_RUNS", "ROUTING_WAIT_S", "EarlyStarts", "PlanWatcher"]

MAX_KEPT_RUNS = 256
"""Runs whose kept early answers wait for their branches; beyond it the oldest are dropped (a
run abandoned between planning and execution would otherwise keep them forever)."""

RunExpert = Callable[[Any, SubQuery, dict[str, SubAnswer]], Awaitable[SubAnswer]]


ROUTING_WAIT_S = 10.0
"""How long `settle` waits for an early start still being routed (it is routed alone while the
whole plan is routed in one batch, so it is usually done within milliseconds of it)."""


@dataclass
class _Early:
    task: asyncio.Task = None  # type: ignore[assignment]  # set as soon as it is started
    sub: SubQuery | None = None
    """The routed sub-query, once routing has run."""
    routed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when `sub` is."""


class EarlyStarts:
    """Early-started sub-queries of each run, until the plan is final and the branches take them."""

    def __init__(self) -> None:
        """No run has started anything yet."""
        self._started: dict[str, dict[str, _Early]] = {}
        self._kept: OrderedDict[str, dict[str, asyncio.Task]] = OrderedDict()

    def watcher(self, token: str, registry: Any, run_expert: RunExpert, *,
                max_subqueries: int, max_concurrency: int | None,
                shared: bool = False) -> PlanWatcher:
        """A callback handler for the planner's call that starts each complete sub-query.

        `shared`: the sub-queries receive the query's material (`context: shared`).
        """
        started = self._started.setdefault(token, {})
        seen: set[str] = set()

        def start(planned: PlannedSubQuery) -> None:
            if planned.id in started or len(started) >= max_subqueries:
                return
            depends = set(planned.depends_on) | set(references(planned.question))
            canonical = canonical_question(planned.question)
            if canonical in seen or not depends <= set(started):
                return  # a repeat (merged by the repair) or a reference it cannot use
            seen.add(canonical)
            planned = PlannedSubQuery(planned.id, planned.question, sorted(depends))
            early = _Early()
            needs = {dep: started[dep] for dep in depends}  # held here: `settle` empties
            early.task = asyncio.ensure_future(self._run(  # `started` while runs go on
                token, early, needs, planned, len(started), registry, run_expert,
                max_concurrency, shared))
            started[planned.id] = early

        return PlanWatcher(start)

    async def _run(self, token: str, early: _Early, needs: dict[str, _Early],
                   planned: PlannedSubQuery, index: int, registry: Any, run_expert: RunExpert,
                   max_concurrency: int | None, shared: bool) -> SubAnswer:
        sub = planned.routed((await registry.aroute([planned.question]))[0])
        if shared:
            sub["context"] = "shared"
        early.sub = sub
        early.routed.set()
        known = {dep: await needs[dep].task for dep in sub["depends_on"]}
        async with SCHEDULER.slot(
            f"early|{token}", sub, expert=(id(registry), sub["expert"]),
            expert_limit=registry.max_concurrency(sub["expert"]), known=known,
            priority=(0.0, index), max_concurrency=max_concurrency,
        ) as ticket:
            answer = await run_expert(registry, sub, ticket.dependencies)
            ticket.finish(answer)
        SCHEDULER.close(f"early|{token}")  # forgotten once no early start of the run is in it
        return answer

    async def settle(self, token: str, plan: list[SubQuery]) -> list[str]:
        """Keep the early starts the final plan can use; cancel the rest. Returns the kept ids.

        An early start of a planned sub-query that is still being routed is waited for (the
        first route of a fresh index builds it, and a planner can finish before that).
        """
        ids = {sub["id"] for sub in plan}
        for sub_id, early in list(self._started.get(token, {}).items()):
            if sub_id in ids and early.sub is None and not early.task.done():
                waiter = asyncio.ensure_future(early.routed.wait())
                await asyncio.wait([early.task, waiter], timeout=ROUTING_WAIT_S,
                                   return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
        started = self._started.pop(token, {})
        kept: dict[str, asyncio.Task] = {}
        for sub in plan:  # in a topological order: a sub-query's dependencies come first
            early = started.pop(sub["id"], None)
            if early is None:
                continue
            same = early.sub is not None and (
                early.sub["question"], sorted(early.sub["depends_on"]), early.sub["expert"]) == (
                sub["question"], sorted(sub["depends_on"]), sub["expert"])
            if same and all(dep in kept for dep in sub["depends_on"]):
                kept[sub["id"]] = early.task
            else:
                early.task.cancel()
        for early in started.values():
            early.task.cancel()
        SCHEDULER.close(f"early|{token}")
        if kept:
            self._kept[token] = kept
            while len(self._kept) > MAX_KEPT_RUNS:  # its branches never came: drop them
                for task in self._kept.popitem(last=False)[1].values():
                    task.cancel()
        return list(kept)

    def cancel(self, token: str) -> None:
        """Cancel everything a run started early (its planning failed or was cancelled)."""
        for early in self._started.pop(token, {}).values():
            early.task.cancel()
        for task in self._kept.pop(token, {}).values():
            task.cancel()

    def take(self, token: str, sub_id: str) -> asyncio.Task | None:
        """The early start of a kept sub-query (once: the branch that answers it takes it)."""
        kept = self._kept.get(token)
        task = kept.pop(sub_id, None) if kept else None
        if kept is not None and not kept:
            del self._kept[token]
        return task


class PlanWatcher(AsyncCallbackHandler):
    """Reads a planner's tokens as they stream and hands on each sub-query once it is written.

    Text is kept per LLM run, so a retried call (`Context.planner_retries`) is read afresh; each
    sub-query is handed on once, however often its item is read again.
    """

    def __init__(self, on_sub_query: Callable[[PlannedSubQuery], None]) -> None:
        """`on_sub_query` is called in the event loop with each complete sub-query, in order."""
        self._on_sub_query = on_sub_query
        self._text: dict[UUID, list[str]] = {}
        self._handed: dict[UUID, int] = {}

    async def on_chat_model_start(self, serialized: dict[str, Any], messages: list[Any], *,
                                  run_id: UUID, **kwargs: Any) -> None:
        """A planner call starts: its text so far is empty."""
        self._text[run_id], self._handed[run_id] = [], 0

    async def on_llm_new_token(self, token: str, *, run_id: UUID, **kwargs: Any) -> None:
        """Add the token; when it may close an item (a `}` or a line break), read the text."""
        text = self._text.setdefault(run_id, [])
        text.append(token if isinstance(token, str) else "")
        if "}" not in text[-1] and "\n" not in text[-1]:
            return
        written = written_sub_queries("".join(text))
        for planned in written[self._handed.get(run_id, 0):]:
            self._on_sub_query(planned)
        self._handed[run_id] = max(len(written), self._handed.get(run_id, 0))

    async def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """The call has ended; the final text is the plan's to read (`make_plan`)."""
        self._text.pop(run_id, None)
        self._handed.pop(run_id, None)

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """The call failed; a retry is read afresh."""
        self._text.pop(run_id, None)
        self._handed.pop(run_id, None)


EARLY_STARTS = EarlyStarts()
"""The process-wide early starts, shared by the sub-query generator and the executor."""
