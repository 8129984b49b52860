"""The fault policy: how long a model call may take, how often it is retried, what a failure is.

Every call the graph makes to a model (the planner, each expert, the aggregator) goes through
`call_with_policy`: each attempt runs under a time limit (`asyncio.timeout`), and a failed
attempt is retried with exponential backoff and jitter (tenacity, as LangChain's own
`with_retry` uses) up to the policy's `retries`. What is never retried: an interrupt or a
command for the parent graph (`GraphBubbleUp`, LangGraph's to handle) and this package's setup
errors (`CompLLMError`: a model not installed, a bad card), which say what to fix.

Why not LangGraph's `RetryPolicy`: it retries a whole node, here the branch that also waits for
its card's slot and records the answer, with one policy per node; the limits belong around the
one model call, and differ per card (`timeout`, `retries`) and per run (`Context`).

A model that raises `CancelledError` of its own (nobody cancelled the run) fails its call like
any other error: letting it through would cancel the whole run and lose every finished answer.
A cancellation of the run itself (or of the attempt by its time limit) goes through as usual.

What the graph does with a failure (docs/reliability.md): a failed sub-query is recorded with
its reason; the sub-queries that depend on it are skipped, each saying which input failed (never
run with an empty substitution); its siblings keep running; the final answer names every missing
part and `aggregation["partial"]` is true. A planner that keeps failing falls back to one
sub-query; an aggregator that fails is replaced by the composed answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from comp_llm_graph.errors import CompLLMError

__all__ = ["DEFAULT_TIMEOUT_S", "CallPolicy", "ExpertCancelledError", "call_with_policy",
           "describe", "policy_of"]

DEFAULT_TIMEOUT_S = 300.0
"""Time limit of one model call by default, in seconds: generous for the embedded models on
two cores (a first call also loads the model), short of forever."""
BACKOFF_INITIAL_S = 0.5
"""First wait before a retry; each later wait doubles (plus up to 1 s of jitter), at most
`BACKOFF_MAX_S`."""
BACKOFF_MAX_S = 8.0

T = TypeVar("T")


class ExpertCancelledError(RuntimeError):
    """A model call raised `CancelledError` although nobody cancelled the run."""


@dataclass(frozen=True)
class CallPolicy:
    """Time limit and retries of one kind of model call."""

    timeout: float | None = DEFAULT_TIMEOUT_S
    """Seconds one attempt may take (None: no limit)."""
    retries: int = 0
    """Attempts after the first one fails."""
    backoff: float = BACKOFF_INITIAL_S
    """First wait before a retry, in seconds."""

    def __post_init__(self) -> None:
        number = isinstance(self.timeout, (int, float)) and not isinstance(self.timeout, bool)
        if self.timeout is not None and not (number and self.timeout > 0):
            raise ValueError(f"timeout must be a number of seconds > 0 (or None); "
                             f"got {self.timeout!r}.")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"retries must be 0 or more; got {self.retries!r}.")


def _retryable(exc: BaseException) -> bool:
    from langgraph.errors import GraphBubbleUp  # not at import: `context` imports this module

    return isinstance(exc, Exception) and not isinstance(exc, (GraphBubbleUp, CompLLMError))


async def call_with_policy(call: Callable[[], Awaitable[T]], policy: CallPolicy) -> T:
    """`await call()` under the policy's time limit and retries; the last error is raised.

    Raises:
        TimeoutError: the last attempt ran past `policy.timeout`.
        ExpertCancelledError: the call raised `CancelledError` while the run was not cancelled.
    """

    async def attempt() -> T:
        task = asyncio.current_task()
        try:
            async with asyncio.timeout(policy.timeout):
                return await call()
        except asyncio.CancelledError:
            if task is not None and task.cancelling():  # the run (or the caller) cancelled
                raise
            raise ExpertCancelledError("the call raised CancelledError") from None

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.retries + 1),
        wait=wait_exponential_jitter(multiplier=policy.backoff, max=BACKOFF_MAX_S),
        retry=retry_if_exception(_retryable),
        reraise=True,
    )
    async for try_ in retrying:
        with try_:
            return await attempt()
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


def describe(exc: BaseException, policy: CallPolicy | None = None) -> str:
    """A failure as recorded in the state: its type and message, a timeout with its limit."""
    attempts = ""
    if policy is not None and policy.retries:
        attempts = f" (after {policy.retries + 1} attempts)"
    if isinstance(exc, TimeoutError) and policy is not None and policy.timeout is not None:
        return f"TimeoutError: no answer within {policy.timeout:g} s{attempts}"
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}{attempts}" if message else \
        f"{type(exc).__name__}{attempts}"


def policy_of(timeout: Any, retries: Any, default: CallPolicy) -> CallPolicy:
    """`default` with the given timeout / retries where they are set (a card's fields)."""
    return CallPolicy(timeout=default.timeout if timeout is None else float(timeout),
                      retries=default.retries if retries is None else int(retries),
                      backoff=default.backoff)
