"""Start-as-ready scheduling of sub-queries inside LangGraph, with resource limits.

Why branches are sent at once and wait. LangGraph super-steps are barriers: with one `Send`
wave per round of ready sub-queries, a sub-query waits for the slowest branch of the wave before
it (on A->C beside a slow B, C waits for B). So with `schedule="ready"`, `dispatch`
(`nodes/execute.py`) sends *every* sub-query of the plan in one step, including those whose
inputs do not exist yet. Each branch enters `Scheduler.slot`, which

1. attaches it to its run (`_Run`: the answers known so far, one `asyncio.Event` per sub-query),
2. waits until every sub-query it depends on has answered (`Ticket.finish` of a sibling branch
   records the answer and sets its event),
3. waits for a slot (`_acquire`), then runs the expert and publishes its own answer.

The waiting happens in process memory, in the event loop running the step: all branches of a
run share one `_Run`. Every sub-query is still its own `Send` branch with its own result write,
so a checkpointer saves each finished sub-query as it finishes.

How slots and limits interact. A branch may start when its dependencies have answered and two
limits allow it: the run's `max_concurrency` (sub-queries of one run at once, `Context`) and the
expert's `max_concurrency` from its card (process-wide, shared by all runs). `_grant` hands out
free slots to the waiting branches in priority order: the branch with the longest remaining
path through the plan goes first (path lengths weighted by each expert's observed latency).
A branch whose inputs have just arrived, but which has not queued yet, holds its place, so a
slot is not given to a lower-priority branch in the meantime. Grants are made on the next turn of
the event loop, after every branch LangGraph started in the same step has queued.

How resume works. A run interrupted after some branches finished (a crash, a cancelled task)
resumes from its checkpoint: LangGraph does not re-run the branches whose results were saved,
and the first branch of the resumed step seeds the run with those results, read from the
step's pending writes (`comp_llm_graph._langgraph`), before any branch waits on them. A run is
keyed by its token within its thread, and is forgotten by `close` at the step's join (`collect`).

How interrupts work. A branch that leaves without an answer (its expert called `interrupt()`)
is marked abandoned in its invocation (the graph call, identified by its `Runtime.control`) and
wakes the branches waiting for it; they leave too, raising an empty `GraphInterrupt` that saves
nothing, and so does a dependant that starts later in the same invocation (LangGraph's own
`max_concurrency` may start it after the others have left). Resuming is a new invocation: the
interrupted branch and its dependants run again, the dependants waiting for its answer, and the
siblings that finished are not re-run (their answers are seeded from the saved writes).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from langgraph.errors import GraphInterrupt

from comp_llm_graph._langgraph import step_pending_writes
from comp_llm_graph.state import SubAnswer, SubQuery

__all__ = ["SCHEDULER", "Scheduler", "Ticket", "critical_path", "remaining_path",
           "saved_answers"]

DEFAULT_LATENCY_S = 1.0
"""Latency assumed for an expert before it has answered once (only ratios matter)."""
MAX_IDLE_RUNS = 256
"""Finished runs kept in memory at most (normally each is dropped by `close` at once)."""
LATENCY_SMOOTHING = 0.3
"""Weight of the newest observation in each expert's moving-average latency."""

_INVOCATION: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "comp_llm_invocation", default=None)
"""The graph invocation the current task belongs to (LangGraph's tasks copy the context)."""


def remaining_path(plan: Iterable[SubQuery], weight: Mapping[str, float]) -> dict[str, float]:
    """For each sub-query, the weighted length of the longest path from it to the end of the plan.

    Args:
        plan: Sub-queries in a topological order.
        weight: Expected seconds per sub-query id (a missing id weighs 1).
    """
    plan = list(plan)
    dependants: dict[str, list[str]] = {sub["id"]: [] for sub in plan}
    for sub in plan:
        for dep in sub["depends_on"]:
            dependants.setdefault(dep, []).append(sub["id"])
    longest: dict[str, float] = {}
    for sub in reversed(plan):
        after = max((longest[d] for d in dependants[sub["id"]] if d in longest), default=0.0)
        longest[sub["id"]] = weight.get(sub["id"], 1.0) + after
    return longest


def critical_path(plan: Iterable[SubQuery], seconds: Mapping[str, float]) -> float:
    """The longest chain of dependent sub-query times: no schedule can finish sooner."""
    return max(remaining_path(plan, seconds).values(), default=0.0)


@dataclass
class _Waiter:
    priority: tuple[float, int]
    expert: Hashable
    run: _Run
    future: asyncio.Future


@dataclass
class _Run:
    limit: int | None
    loop: asyncio.AbstractEventLoop
    busy: int = 0
    users: int = 0
    answers: dict[str, SubAnswer] = field(default_factory=dict)
    pending: dict[str, tuple[tuple[float, int], Hashable, list[str]]] = field(default_factory=dict)
    """Branches not yet queued for a slot: priority, expert, dependencies."""
    events: dict[str, asyncio.Event] = field(default_factory=dict)
    seeded: asyncio.Future | None = None
    abandoned: dict[str, object] = field(default_factory=dict)
    """Sub-queries whose branch left without an answer, with the invocation it left in."""
    invocations: set[int] = field(default_factory=set)
    """The graph invocations (`Scheduler.invocation`) whose branches attached to it."""

    def event(self, sub_id: str) -> asyncio.Event:
        if sub_id not in self.events:
            self.events[sub_id] = asyncio.Event()
            if sub_id in self.answers:
                self.events[sub_id].set()
        return self.events[sub_id]

    def record(self, answer: SubAnswer) -> None:
        self.answers[answer["id"]] = answer
        self.event(answer["id"]).set()

    def abandon(self, sub_id: str, invocation: object) -> None:
        """Wake the branches waiting for a branch that left without an answer.

        It was interrupted or cancelled; the branches of the same invocation leave too instead
        of waiting forever.
        """
        if sub_id not in self.answers:
            self.abandoned[sub_id] = invocation
            self.event(sub_id).set()

    async def wait_for(self, deps: list[str], invocation: object) -> None:
        """Wait until every dependency has answered.

        Raises `GraphInterrupt(())` if one left in this invocation; an earlier invocation's
        departure is forgotten (that branch runs again now).
        """
        while missing := [dep for dep in deps if dep not in self.answers]:
            if any(self.abandoned.get(dep, self) is invocation for dep in missing):
                raise GraphInterrupt(())  # saves nothing: this branch re-runs on resume
            for dep in missing:
                if dep in self.abandoned:  # left in an earlier invocation of the step
                    del self.abandoned[dep]
                    self.events[dep] = asyncio.Event()
            waits = [asyncio.ensure_future(self.event(dep).wait()) for dep in missing]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()


class Scheduler:
    """Readiness, concurrency limits and priority for executor branches (one per process)."""

    def __init__(self) -> None:
        """An empty scheduler; `SCHEDULER` is the one the graph uses."""
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._expert_limits: dict[Hashable, int | None] = {}
        self._expert_busy: dict[Hashable, int] = {}
        self._waiting: list[_Waiter] = []
        self._latency: dict[str, float] = {}

    # -- limits and estimates ------------------------------------------------------------------

    def expected_latency(self, expert: str) -> float:
        """Moving average of the expert's observed seconds per sub-query."""
        return self._latency.get(expert, DEFAULT_LATENCY_S)

    def observe(self, expert: str, seconds: float) -> None:
        """Record how long a sub-query on `expert` took."""
        old = self._latency.get(expert)
        self._latency[expert] = seconds if old is None else (
            LATENCY_SMOOTHING * seconds + (1 - LATENCY_SMOOTHING) * old)

    def reset_estimates(self) -> None:
        """Forget the observed expert latencies."""
        self._latency.clear()

    def priorities(self, plan: list[SubQuery]) -> dict[str, float]:
        """Longest remaining path of each sub-query, weighted by expected expert latency."""
        return remaining_path(plan, {s["id"]: self.expected_latency(s["expert"]) for s in plan})

    # -- one branch ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def slot(
        self,
        token: str,
        sub: SubQuery,
        *,
        expert: Hashable,
        expert_limit: int | None,
        known: Mapping[str, SubAnswer],
        priority: tuple[float, int],
        max_concurrency: int | None,
        config: Mapping[str, Any] | None = None,
        invocation: object = None,
        acquire: bool = True,
    ) -> AsyncIterator[Ticket]:
        """Wait until `sub` may run; yield its `Ticket`; free the slot afterwards.

        Args:
            token: Identifies the run (the same on resume from a checkpoint).
            sub: The sub-query.
            expert: Identifies the expert across runs (its limit is shared by all of them).
            expert_limit: Most sub-queries on that expert at once (None: no limit).
            known: Answers already known when the branch was sent.
            priority: Sort key among waiting branches (lower goes first).
            max_concurrency: The run's limit on sub-queries at once.
            config: The branch's LangGraph config, to read results saved by an earlier,
                interrupted attempt of the same step.
            invocation: Identifies the graph invocation the branch runs in (its
                `Runtime.control`): a branch interrupted in it stops its dependants in it, not
                in the invocation that resumes it.
            acquire: False for a branch whose answer came from elsewhere (a kept early start,
                which held a slot of its own): it waits for its inputs and publishes its answer
                without taking a slot.
        """
        key = _run_key(token, config)
        run = await self._attach(key, max_concurrency, known, config)
        try:
            with self._lock:
                self._expert_limits[expert] = expert_limit
                if acquire:  # a pending branch holds its place for a slot (`_grant`)
                    run.pending[sub["id"]] = (priority, expert, sub["depends_on"])
            await run.wait_for(sub["depends_on"], invocation)
            if acquire:
                await self._acquire(run, sub["id"], expert, priority)
            try:
                yield Ticket(run, {dep: run.answers[dep] for dep in sub["depends_on"]}, self)
            finally:
                if acquire:
                    self._release(run, expert)
        except BaseException:
            run.abandon(sub["id"], invocation)
            raise
        finally:
            with self._lock:
                if run.pending.pop(sub["id"], None) is not None:
                    self._grant()  # a slot may have been held for this branch
            self._detach(key, run)

    async def _attach(self, token: str, limit: int | None, known: Mapping[str, SubAnswer],
                      config: Mapping[str, Any] | None) -> _Run:
        loop = asyncio.get_running_loop()
        with self._lock:
            run = self._runs.get(token)
            first = run is None or run.loop is not loop
            if first:  # new, or an earlier attempt that ran in another event loop
                earlier = run.answers if run is not None else {}
                run = self._runs[token] = _Run(limit=limit, loop=loop, answers=dict(earlier))
                run.seeded = loop.create_future()
            self._runs.move_to_end(token)
            run.users += 1
            marker = _INVOCATION.get()
            if marker is not None:
                run.invocations.add(id(marker))
        try:
            for answer in known.values():
                run.record(answer)
            if first:
                try:
                    for answer in (await saved_answers(config)).values():
                        run.record(answer)
                finally:
                    run.seeded.set_result(None)
            else:
                await asyncio.shield(run.seeded)
        except BaseException:
            self._detach(token, run)
            raise
        return run

    def _detach(self, token: str, run: _Run) -> None:
        # A finished run is kept until `close` (a branch sent in the same step may not have
        # started yet, e.g. under LangGraph's own max_concurrency); the oldest idle runs are
        # dropped beyond MAX_IDLE_RUNS, in case a run never reached `close`.
        with self._lock:
            run.users -= 1
            idle = [t for t, r in self._runs.items() if r.users == 0]
            for stale in idle[: max(0, len(idle) - MAX_IDLE_RUNS)]:
                del self._runs[stale]

    @contextlib.contextmanager
    def invocation(self) -> Iterator[None]:
        """Mark one graph invocation; when it ends, forget its idle runs.

        A run that ends normally is forgotten at its join (`close`). One that ends otherwise
        (an exception, a cancellation, an interrupt) never reaches it: once its invocation is
        over, no branch of it can still start, and a resume seeds a new entry from the
        checkpoint, so its entries are dropped here.
        """
        marker = object()
        token = _INVOCATION.set(marker)
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):  # reset in another context: nothing to undo
                _INVOCATION.reset(token)
            with self._lock:
                for key, run in list(self._runs.items()):
                    if id(marker) in run.invocations and run.users == 0:
                        del self._runs[key]

    def close(self, token: str | None, config: Mapping[str, Any] | None = None) -> None:
        """Forget a run once all of its branches of the step are done."""
        key = _run_key(token or "", config)
        with self._lock:
            run = self._runs.get(key)
            if run is not None and run.users == 0:
                del self._runs[key]

    async def _acquire(self, run: _Run, sub_id: str, expert: Hashable,
                       priority: tuple[float, int]) -> None:
        loop = asyncio.get_running_loop()
        waiter = _Waiter(priority, expert, run, loop.create_future())
        with self._lock:
            run.pending.pop(sub_id, None)
            self._waiting.append(waiter)
        # Grant on the next turn of the event loop, once the other branches LangGraph started in
        # the same step have queued too: then the best priority, not the first to arrive, wins.
        loop.call_soon(self._grant_now)
        try:
            await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiting:
                    self._waiting.remove(waiter)
                    raise
            self._release(run, expert)  # granted just as it was cancelled
            raise

    def _release(self, run: _Run, expert: Hashable) -> None:
        with self._lock:
            run.busy -= 1
            self._expert_busy[expert] -= 1
            self._grant()

    def _grant_now(self) -> None:
        with self._lock:
            self._grant()

    def _grant(self) -> None:
        """Start every waiting branch the limits allow, best priority first (lock held).

        A branch whose inputs have just arrived but which has not queued yet (it resumes on a
        later turn of the event loop) holds its place: a slot is not given to a lower-priority
        branch in the meantime.
        """
        runs = {id(w.run): w.run for w in self._waiting}
        entries: list[tuple[tuple[float, int], Hashable, _Run, _Waiter | None]] = [
            (w.priority, w.expert, w.run, w) for w in self._waiting]
        for run in self._runs.values():
            ready = [(priority, expert, run, None)
                     for priority, expert, deps in run.pending.values()
                     if all(dep in run.answers for dep in deps)]
            if ready:
                runs[id(run)] = run
                entries += ready
        entries.sort(key=lambda e: e[0])
        run_busy = {key: run.busy for key, run in runs.items()}
        expert_busy = dict(self._expert_busy)
        for _priority, expert, run, waiter in entries:
            limit = self._expert_limits.get(expert)
            if run.limit is not None and run_busy[id(run)] >= run.limit:
                continue
            if limit is not None and expert_busy.get(expert, 0) >= limit:
                continue
            run_busy[id(run)] += 1
            expert_busy[expert] = expert_busy.get(expert, 0) + 1
            if waiter is None:  # reserved for a branch about to queue
                continue
            self._waiting.remove(waiter)
            loop = waiter.future.get_loop()
            if loop.is_closed():  # its run was abandoned
                continue
            run.busy += 1
            self._expert_busy[expert] = self._expert_busy.get(expert, 0) + 1
            loop.call_soon_threadsafe(_resolve, waiter.future)


@dataclass
class Ticket:
    """A branch's slot: its dependencies' answers, and where to publish its own."""

    run: _Run
    dependencies: dict[str, SubAnswer]
    scheduler: Scheduler

    def finish(self, answer: SubAnswer) -> None:
        """Publish the branch's answer to the branches that wait for it."""
        self.run.record(answer)
        self.scheduler.observe(answer["expert"], answer["finished_at"] - answer["started_at"])


def _run_key(token: str, config: Mapping[str, Any] | None) -> str:
    """A run is its token within its thread (two threads forked from one checkpoint differ)."""
    thread_id = ((config or {}).get("configurable") or {}).get("thread_id")
    return f"{thread_id}|{token}" if thread_id is not None else token


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


async def saved_answers(config: Mapping[str, Any] | None) -> dict[str, SubAnswer]:
    """Answers that earlier attempts of the current step saved to the checkpointer.

    When a step is resumed, LangGraph skips the branches whose writes were saved; their answers
    are in the step's checkpoint as pending writes to the `answers` channel.
    """
    answers: dict[str, SubAnswer] = {}
    for value in await step_pending_writes(config, "answers"):
        if isinstance(value, dict):
            answers.update(value)
    return answers


SCHEDULER = Scheduler()
"""The process-wide scheduler used by the executor."""
