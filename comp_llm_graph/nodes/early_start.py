"""Sub-queries started while the planner is still writing the plan (LLMCompiler's streaming idea).

With a planner that reports its text as it generates it (`supports_plan_pieces`: the embedded
llama.cpp planners), each sub-query starts the moment its JSON item (or its line) is complete and
the sub-queries it depends on have answered: it is routed on its own and its expert called, while
the planner writes the next one. Planning then ends as usual (validation, repair, routing of the
whole plan in one batch), and `settle` keeps an early start only where the final sub-query is the
same (question, dependencies, expert) and every sub-query it depends on was kept; the others
are cancelled. The executor branch of a kept sub-query awaits the early answer instead of calling
the expert again, so every sub-query is still one `Send` branch with one result write.

An early start takes a scheduler slot like a branch, so the run's and the expert's
`max_concurrency` hold for it too. Only `mode="comp"` with `schedule="ready"` starts early.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from comp_llm_graph.nodes.common import route, routed_sub_query
from comp_llm_graph.planning.plan import PlannedSubQuery, normalise_id, references
from comp_llm_graph.scheduler import SCHEDULER
from comp_llm_graph.state import SubAnswer, SubQuery

__all__ = ["EARLY_STARTS", "MAX_KEPT_RUNS", "ROUTING_WAIT_S", "EarlyStarts"]

_ITEM = re.compile(r'\{"id": "(q\d+)", "question": "((?:[^"\\]|\\.)*)", '
                   r'"depends_on": \[([^\]]*)\]\}')
"""A complete sub-query of grammar-shaped plan JSON (`plan.plan_grammar`)."""
_LINE = re.compile(r"^(q\d+): (.+)\n", re.MULTILINE)
"""A complete sub-query of the line format (its line has ended)."""


def _complete_items(text: str) -> list[tuple[str, str, set[str]]]:
    """(id, question, ids named as dependencies) of every complete sub-query in plan text."""
    items = []
    for match in _ITEM.finditer(text):
        depends = {normalise_id(d.strip().strip('"'))
                   for d in match.group(3).split(",") if d.strip()}
        items.append((match.group(1), json.loads(f'"{match.group(2)}"'), depends))
    if not items:
        items = [(m.group(1), m.group(2).strip(), set()) for m in _LINE.finditer(text)]
    return items

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

    def listener(self, token: str, registry: Any, run_expert: RunExpert, *,
                 max_subqueries: int, max_concurrency: int | None,
                 shared: bool = False) -> Callable[[str], None]:
        """A callback for the planner's text pieces that starts each complete sub-query.

        `shared`: the sub-queries receive the query's material (`context: shared`).
        """
        started = self._started.setdefault(token, {})
        text: list[str] = []
        seen: set[str] = set()

        def on_piece(piece: str) -> None:
            text.append(piece)
            if "}" not in piece and "\n" not in piece:
                return
            for sub_id, question, depends in _complete_items("".join(text)):
                if sub_id in started or len(started) >= max_subqueries:
                    continue
                depends |= set(references(question))
                canonical = " ".join(question.lower().split()).rstrip("?.! ")
                if canonical in seen or not depends <= set(started):
                    continue  # a repeat (merged by the repair) or a reference it cannot use
                seen.add(canonical)
                planned = PlannedSubQuery(sub_id, question, sorted(depends))
                early = _Early()
                needs = {dep: started[dep] for dep in depends}  # held here: `settle` empties
                early.task = asyncio.ensure_future(self._run(  # `started` while runs go on
                    token, early, needs, planned, len(started), registry, run_expert,
                    max_concurrency, shared))
                started[sub_id] = early

        return on_piece

    async def _run(self, token: str, early: _Early, needs: dict[str, _Early],
                   planned: PlannedSubQuery, index: int, registry: Any, run_expert: RunExpert,
                   max_concurrency: int | None, shared: bool) -> SubAnswer:
        choice = (await route(registry, [planned.question]))[0]
        sub = routed_sub_query(planned, choice)
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


EARLY_STARTS = EarlyStarts()
"""The process-wide early starts, shared by the sub-query generator and the executor."""
