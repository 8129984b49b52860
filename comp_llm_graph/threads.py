"""One run at a time per thread: a second run on a busy thread is refused, not interleaved.

Two runs on one thread would read the same checkpoint and write over each other: four
simultaneous turns kept 2 of 8 messages, and two `--resume` of one interrupted run ran its
sub-queries twice. LangGraph Server decides this per request with a multitask strategy (reject,
enqueue, interrupt, rollback) and rejects by default; this is the same rule outside it:

- in a process, `exclusive` holds a thread (per checkpointer) for the length of a run, and a
  second run raises `ThreadBusyError` at once (wait for the first, or use another thread id);
- across processes on one SQLite checkpoint (the CLI), `file_lease` takes an advisory lock
  beside the database, per thread, so a second process is refused the same way. A PostgreSQL
  checkpoint is shared by servers that run LangGraph Server, whose own strategy applies.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from comp_llm_graph.errors import ThreadBusyError

__all__ = ["exclusive", "file_lease", "thread_id_of"]

_RUNNING: set[tuple[int, str]] = set()
_GUARD = threading.Lock()


def thread_id_of(config: Any) -> str | None:
    """The `thread_id` a run config names, or None."""
    if not isinstance(config, dict):
        return None
    value = (config.get("configurable") or {}).get("thread_id")
    return None if value is None else str(value)


def _busy(thread: str) -> ThreadBusyError:
    return ThreadBusyError(
        f"thread {thread} already has a run in progress; wait for it to finish, or use another "
        "thread id (one run per thread at a time, as LangGraph Server's multitask_strategy "
        "'reject').")


@contextlib.contextmanager
def exclusive(checkpointer: Any, config: Any) -> Iterator[None]:
    """Hold the run's thread for the block; `ThreadBusyError` if another run holds it.

    Without a checkpointer or a thread id there is no thread to share, and nothing is held.
    """
    thread = thread_id_of(config)
    if checkpointer is None or checkpointer is False or thread is None:
        yield
        return
    key = (id(checkpointer), thread)
    with _GUARD:
        if key in _RUNNING:
            raise _busy(thread)
        _RUNNING.add(key)
    try:
        yield
    finally:
        with _GUARD:
            _RUNNING.discard(key)


@contextlib.contextmanager
def file_lease(database: str | Path, thread: str) -> Iterator[None]:
    """An advisory lock on `thread` of the SQLite checkpoint `database`, across processes.

    The lock file sits beside the database (`.<name>.<hash of the thread>.lock`); the operating
    system drops the lock when the process ends, however it ends. Where the lock file cannot
    be made (no folder yet: a new checkpoint has no run to share; or a bad path, which opening
    the checkpoint then reports with its reason), nothing is held.
    """
    database = Path(database)
    digest = hashlib.sha256(thread.encode()).hexdigest()[:16]
    path = database.with_name(f".{database.name}.{digest}.lock")
    try:
        handle = path.open("a")
    except OSError:
        yield
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise _busy(thread) from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
