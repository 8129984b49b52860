"""A worker thread that gathers concurrent generation calls into batches.

The first call of a batch waits `BATCH_WINDOW_S` for others; calls that arrive while a batch runs
form the next one. Constrained (grammar) calls always run alone.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["BATCH_WINDOW_S", "Batcher", "Generation", "Request"]

BATCH_WINDOW_S = 0.02
"""How long the first call of a batch waits for others to join it."""


@dataclass
class Request:
    """One call waiting for its batch: chat messages as role/content dicts."""

    chat: list[dict[str, str]]
    max_new_tokens: int
    stop: list[str] | None
    grammar: str | None
    stop_on_repeat: bool = False
    """A plan: stop at the first repeated sub-question (`grammar.cut_at_repeat`)."""
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


@dataclass
class Generation:
    """One generated completion."""

    text: str
    prompt_tokens: int
    output_tokens: int
    batch_size: int
    note: str | None = None
    """Why generation stopped early, if it did for a reason other than its end or its limit."""


class Batcher:
    """A worker thread that takes queued calls and runs them in batches.

    The first call of a batch waits `BATCH_WINDOW_S` for others; calls that arrive while a batch
    runs form the next one. Constrained (grammar) calls always run alone.
    """

    def __init__(self, run: Callable[[list[Request]], list[Generation]], max_batch_size: int,
                 name: str = "comp-llm-batcher"):
        """Start the worker; `run(batch)` generates one batch."""
        self.run, self.max_batch_size = run, max_batch_size
        self.queue: queue.Queue[Request] = queue.Queue()
        self.held: list[Request] = []
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def submit(self, request: Request) -> concurrent.futures.Future:
        """Queue a call; the future resolves to its `Generation`."""
        self.queue.put(request)
        return request.future

    def _next_batch(self) -> list[Request]:
        first = self.held.pop(0) if self.held else self.queue.get()
        if first.grammar is not None or self.max_batch_size == 1:
            return [first]
        batch = [first]
        deadline = time.monotonic() + BATCH_WINDOW_S
        while len(batch) < self.max_batch_size:
            try:
                request = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            (self.held if request.grammar is not None else batch).append(request)
        return batch

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            batch = [r for r in batch if r.future.set_running_or_notify_cancel()]
            if not batch:
                continue
            try:
                outputs = self.run(batch)
                if len(outputs) != len(batch):
                    raise RuntimeError(f"{len(outputs)} generations for {len(batch)} calls")
                for request, generation in zip(batch, outputs, strict=True):
                    request.future.set_result(generation)
            except BaseException as exc:  # noqa: BLE001 - handed to every caller of the batch
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(exc)


