"""Synchronous use of the graph: `invoke`, `stream` and `batch` run the async graph.

The nodes are coroutines on purpose: every branch of a plan waits in the same event loop for
the answers it depends on (`comp_llm_graph.scheduler`), and early starts run beside the planner.
Sync twins of the nodes run by LangGraph's thread pool could not share those waits. So the
compiled graph's sync entry points run the async ones on one process-wide event loop in a
background thread (started on first use), and hand back the result or each streamed chunk:
`graph.invoke({...})`, `graph.batch([...])` and `for chunk in graph.stream(...)` work, also
from inside a running event loop (a notebook cell), where `asyncio.run` would refuse.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

__all__ = ["CompLLMGraph", "SyncSaverAdapter", "iterate_sync", "run_sync", "threaded_saver"]

T = TypeVar("T")
_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()
_DONE = object()


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="comp-llm-sync",
                             daemon=True).start()
        return _loop


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the background loop and wait for its result (or its exception)."""
    future = asyncio.run_coroutine_threadsafe(coroutine, _background_loop())
    try:
        return future.result()
    except BaseException:
        future.cancel()  # KeyboardInterrupt while waiting: the run stops too
        raise


def iterate_sync(stream: AsyncIterator[Any]) -> Iterator[Any]:
    """Yield an async iterator's items; closing the iterator early cancels the run."""
    items: queue.Queue[Any] = queue.Queue()

    async def pump() -> None:
        try:
            async for item in stream:
                items.put(item)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            items.put(exc)
        finally:
            items.put(_DONE)

    future = asyncio.run_coroutine_threadsafe(pump(), _background_loop())
    try:
        while (item := items.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        future.cancel()


class CompLLMGraph(CompiledStateGraph):
    """The compiled Comp-LLM graph; its sync entry points run the async ones (module doc)."""

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
        """`ainvoke`, waited for."""
        return run_sync(self.ainvoke(input, config, **kwargs))

    def stream(self, input: Any, config: Any = None, **kwargs: Any) -> Iterator[Any]:
        """`astream`, chunk by chunk."""
        yield from iterate_sync(self.astream(input, config, **kwargs))

    async def astream(self, input: Any, config: Any = None, **kwargs: Any
                      ) -> AsyncIterator[Any]:
        """LangGraph's `astream` as one scheduler invocation (`ainvoke` runs it: `_langgraph`).

        However the run ends (finished, interrupted, cancelled, failed), the scheduler then
        forgets what it kept for the run's branches (`Scheduler.invocation`). A run on a thread
        that already has one in progress raises `ThreadBusyError` (`comp_llm_graph.threads`).
        No stream mode shows the run's internal keys to a caller (`comp_llm_graph.stream_view`).
        """
        from comp_llm_graph.scheduler import SCHEDULER
        from comp_llm_graph.stream_view import needs_view, public
        from comp_llm_graph.threads import exclusive

        if kwargs.get("output_keys") is None:  # `updates` and `values` without internal keys
            kwargs["output_keys"] = self.output_channels
        view = needs_view(kwargs.get("stream_mode") or self.stream_mode)
        with exclusive(self.checkpointer, config), SCHEDULER.invocation():
            async for chunk in super().astream(input, config, **kwargs):
                yield public(chunk) if view else chunk


class SyncSaverAdapter(BaseCheckpointSaver):
    """A sync-only checkpointer (e.g. `SqliteSaver`) with its async methods run in threads.

    The graph always runs async (above), and a sync saver raises `NotImplementedError` there.
    """

    def __init__(self, saver: BaseCheckpointSaver):
        """Wrap `saver`; its serializer is kept."""
        super().__init__(serde=saver.serde)
        self.saver = saver

    def get_tuple(self, config: Any) -> Any:
        """Delegated to the wrapped saver."""
        return self.saver.get_tuple(config)

    def list(self, config: Any, **kwargs: Any) -> Iterator[Any]:
        """Delegated to the wrapped saver."""
        return self.saver.list(config, **kwargs)

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        """Delegated to the wrapped saver."""
        return self.saver.put(config, checkpoint, metadata, new_versions)

    def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        """Delegated to the wrapped saver."""
        self.saver.put_writes(config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        """Delegated to the wrapped saver."""
        self.saver.delete_thread(thread_id)

    def get_next_version(self, current: Any, channel: Any) -> Any:
        """Delegated to the wrapped saver."""
        return self.saver.get_next_version(current, channel)

    async def aget_tuple(self, config: Any) -> Any:
        """The wrapped saver's sync method, in a worker thread."""
        return await asyncio.to_thread(self.saver.get_tuple, config)

    async def alist(self, config: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """The wrapped saver's sync method, in a worker thread."""
        for item in await asyncio.to_thread(lambda: list(self.saver.list(config, **kwargs))):
            yield item

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        """The wrapped saver's sync method, in a worker thread."""
        return await asyncio.to_thread(self.saver.put, config, checkpoint, metadata,
                                       new_versions)

    async def aput_writes(self, config: Any, writes: Any, task_id: str,
                          task_path: str = "") -> None:
        """The wrapped saver's sync method, in a worker thread."""
        await asyncio.to_thread(self.saver.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """The wrapped saver's sync method, in a worker thread."""
        await asyncio.to_thread(self.saver.delete_thread, thread_id)


def threaded_saver(saver: Any) -> Any:
    """`saver`, wrapped in `SyncSaverAdapter` when it has no async methods of its own."""
    if not isinstance(saver, BaseCheckpointSaver):
        return saver  # None, True/False (a parent's), or something LangGraph will judge
    from langgraph.checkpoint.sqlite import SqliteSaver  # its async methods raise

    if isinstance(saver, SqliteSaver) or type(saver).aget_tuple is BaseCheckpointSaver.aget_tuple:
        return SyncSaverAdapter(saver)
    return saver
