"""The one place that relies on LangGraph internals, each with a test that fails if it moves.

`tests/unit/test_langgraph_internals.py` has one test per reliance; after upgrading LangGraph,
fix this module before anything else.

1. **Pending writes.** When a step is resumed from a checkpoint, LangGraph re-runs only the
   branches whose writes were not saved; the saved ones sit in the step's checkpoint as *pending
   writes*. A resumed branch that waits for a sibling's answer (start-as-ready scheduling) must
   read it there (`step_pending_writes`). LangGraph has no public API for "the pending writes of
   the step I am running in", so this relies on
   `langgraph._internal._constants.CONFIG_KEY_CHECKPOINTER` (the checkpointer, in a task's
   `configurable`; also read by `has_checkpointer`), `CONFIG_KEY_CHECKPOINT_NS` / `NS_SEP` (the
   task's namespace, `node:task_id`, whose parent names the graph the step belongs to) and
   `CONFIG_KEY_CHECKPOINT_MAP` (namespace -> id of the checkpoint the step started from).
2. **The compiled graph's class.** `StateGraph.compile` takes no class, so `recast` gives the
   compiled graph the package's subclass (`sync.CompLLMGraph`) after the fact.
3. **`ainvoke` runs `astream`.** `CompLLMGraph` overrides only `astream` (one run per thread,
   the scheduler's invocation, the stream view), and relies on `Pregel.ainvoke` (and so
   `abatch`) running through it, as LangGraph's own `ainvoke` does today.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from langgraph._internal._constants import (
    CONFIG_KEY_CHECKPOINT_MAP,
    CONFIG_KEY_CHECKPOINT_NS,
    CONFIG_KEY_CHECKPOINTER,
    NS_SEP,
)

__all__ = ["has_checkpointer", "recast", "step_pending_writes"]


def recast(compiled: Any, cls: type) -> Any:
    """`compiled` made an instance of `cls`, a subclass of its class: the same object.

    `StateGraph.compile` has no parameter for the class of the graph it returns, and the
    package's `CompLLMGraph` (`sync.py`) adds only methods (sync entry points, the stream view,
    one run per thread), so every attribute LangGraph set stays valid.

    Raises:
        TypeError: `cls` does not extend the compiled graph's class.
    """
    if not issubclass(cls, type(compiled)):
        raise TypeError(f"{cls.__name__} does not extend {type(compiled).__name__}")
    compiled.__class__ = cls
    return compiled


def has_checkpointer(config: Mapping[str, Any] | None) -> bool:
    """Whether the task runs with a checkpointer (an `interrupt()` can only be resumed then)."""
    return ((config or {}).get("configurable") or {}).get(CONFIG_KEY_CHECKPOINTER) is not None


async def step_pending_writes(config: Mapping[str, Any] | None, channel: str) -> list[Any]:
    """Values that earlier attempts of the current step wrote to `channel` and that were saved.

    Args:
        config: A task's config, as LangGraph passes it to a node.
        channel: The state key.

    Returns:
        The saved values in write order; empty without a checkpointer, thread or saved step.
    """
    configurable = (config or {}).get("configurable") or {}
    checkpointer = configurable.get(CONFIG_KEY_CHECKPOINTER)
    thread_id = configurable.get("thread_id")
    if checkpointer is None or thread_id is None:
        return []
    parent_ns = str(configurable.get(CONFIG_KEY_CHECKPOINT_NS, "")).rpartition(NS_SEP)[0]
    checkpoint_id = (configurable.get(CONFIG_KEY_CHECKPOINT_MAP) or {}).get(parent_ns)
    if checkpoint_id is None:
        return []
    target = {"configurable": {"thread_id": thread_id, "checkpoint_ns": parent_ns,
                               "checkpoint_id": checkpoint_id}}
    try:
        saved = await checkpointer.aget_tuple(target)
    except NotImplementedError:  # a sync-only checkpointer
        saved = await asyncio.to_thread(checkpointer.get_tuple, target)
    return [value for _task, name, value in (saved.pending_writes or []) if name == channel] if (
        saved) else []
