"""Replicas of one model behind one chat model: least outstanding requests, limits, failover.

An expert card may list several endpoints of the same served model (`options.endpoints`,
`openai_compat.OpenAIOptions`); `ReplicaPool` is the chat model the expert then runs on. Each
call goes to the replica with the fewest requests in flight relative to its `max_concurrency`
(waiting when every replica is at its limit); a call that fails or exceeds the replica's timeout
is retried on another replica, and the replica is skipped for `cooldown_s` while others are
available. Every failure is logged (`comp_llm_graph.replicas`), counted in `stats()` and listed
in the reply's `response_metadata["replica_errors"]`; the replica that answered is
`response_metadata["replica"]`.

Why not LiteLLM's `Router`, which does this: it requires boto3, whose botocore pins
`python-dateutil<3` while chromadb's kubernetes client needs `>=3`, so it cannot be installed
beside Chroma without breaking one of them; and importing it took 9 s on 2 cores
(docs/deploying.md).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

__all__ = ["ReplicaPool", "ReplicasFailedError"]

log = logging.getLogger("comp_llm_graph.replicas")


class ReplicasFailedError(RuntimeError):
    """Every replica tried for a call failed; the message lists each one's error."""


@dataclass
class _Replica:
    name: str
    limit: int | None
    timeout: float | None
    in_flight: int = 0
    cooling_until: float = 0.0
    counts: dict[str, int] = field(default_factory=lambda: {"calls": 0, "failures": 0,
                                                            "timeouts": 0})

    def load(self) -> tuple[float, int]:
        return (self.in_flight / self.limit if self.limit else 0.0, self.in_flight)

    def full(self) -> bool:
        return self.limit is not None and self.in_flight >= self.limit


class ReplicaPool(BaseChatModel):
    """A chat model spreading calls over replicas of one model (see the module docstring)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    replicas: list[Any]
    """The replicas' chat models (e.g. one `ChatOpenAI` per endpoint, without retries)."""
    names: list[str]
    """How each replica is named in errors, metadata and `stats()` (its URL)."""
    limits: list[int | None]
    """Most calls in flight per replica (None: no limit)."""
    timeouts: list[float | None]
    """Seconds one call may take per replica before it is retried elsewhere (None: none)."""
    retries: int | None = Field(default=None, ge=0)
    """Other replicas tried after a failure (None: every other replica once)."""
    cooldown_s: float = Field(default=5.0, ge=0)
    """How long a replica that failed is passed over while another is available."""
    _state: list[_Replica] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _waiters: list[asyncio.Future] = PrivateAttr(default_factory=list)

    def model_post_init(self, context: Any) -> None:
        """Check the lists line up and make each replica's counters."""
        super().model_post_init(context)
        sizes = {len(self.replicas), len(self.names), len(self.limits), len(self.timeouts)}
        if len(sizes) != 1 or not self.replicas:
            raise ValueError("replicas, names, limits and timeouts are one entry per replica")
        self._state = [_Replica(n, limit, timeout) for n, limit, timeout in
                       zip(self.names, self.limits, self.timeouts, strict=True)]

    @property
    def _llm_type(self) -> str:
        return "replica-pool"

    def stats(self) -> dict[str, dict[str, int]]:
        """Calls, failures and timeouts per replica, by name."""
        with self._lock:
            return {r.name: dict(r.counts) for r in self._state}

    # -- choosing a replica --------------------------------------------------------------------

    def _pick(self, tried: set[int], wait_ok: bool) -> int | None:
        """The least loaded replica not tried yet (lock held); None when all are full."""
        now = time.monotonic()
        untried = [i for i in range(len(self._state)) if i not in tried]
        warm = [i for i in untried if self._state[i].cooling_until <= now] or untried
        free = [i for i in warm if not self._state[i].full()]
        if not free:
            if wait_ok:
                return None
            free = warm  # the sync path does not wait: the least loaded, over its limit
        best = min(free, key=lambda i: self._state[i].load())
        self._state[best].in_flight += 1
        self._state[best].counts["calls"] += 1
        return best

    async def _acquire(self, tried: set[int]) -> int:
        while True:
            with self._lock:
                chosen = self._pick(tried, wait_ok=True)
                if chosen is not None:
                    return chosen
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
            await waiter

    def _release(self, index: int, error: str | None, timed_out: bool) -> None:
        with self._lock:
            replica = self._state[index]
            replica.in_flight -= 1
            if error is not None:
                replica.counts["timeouts" if timed_out else "failures"] += 1
                replica.cooling_until = time.monotonic() + self.cooldown_s
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:  # each tries again; those that find no slot wait again
            if not waiter.done():
                waiter.get_loop().call_soon_threadsafe(_wake, waiter)

    def _attempts(self) -> int:
        return 1 + (len(self._state) - 1 if self.retries is None else self.retries)

    # -- calls ---------------------------------------------------------------------------------

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None,
                         **kwargs: Any) -> ChatResult:
        tried: set[int] = set()
        errors: list[dict[str, str]] = []
        for _ in range(min(self._attempts(), len(self._state))):
            index = await self._acquire(tried)
            tried.add(index)
            replica = self._state[index]
            error, timed_out = None, False
            try:
                reply = await asyncio.wait_for(
                    self.replicas[index].ainvoke(messages, stop=stop, **kwargs),
                    replica.timeout)
            except TimeoutError:
                error, timed_out = f"no reply within {replica.timeout} s", True
            except Exception as exc:  # noqa: BLE001 - retried on another replica, reported
                error = f"{type(exc).__name__}: {exc}"
            finally:
                self._release(index, error, timed_out)
            if error is None:
                return _result(reply, replica.name, errors)
            log.warning("replica %s failed: %s", replica.name, error)
            errors.append({"replica": replica.name, "error": error})
        raise ReplicasFailedError("every replica failed: " + "; ".join(
            f"{e['replica']}: {e['error']}" for e in errors))

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        """The sync path: the same choice and failover, on an event loop of its own.

        The graph itself calls `_agenerate`.
        """
        return asyncio.run(self._agenerate(messages, stop=stop, **kwargs))


def _result(reply: BaseMessage, name: str, errors: Sequence[dict[str, str]]) -> ChatResult:
    reply.response_metadata["replica"] = name
    if errors:
        reply.response_metadata["replica_errors"] = list(errors)
    return ChatResult(generations=[ChatGeneration(message=reply)])


def _wake(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
