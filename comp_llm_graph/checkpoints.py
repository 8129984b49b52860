"""Checkpointers by URL: where a run's state is kept between steps, turns and processes.

`open_checkpointer(url)` opens LangGraph's own savers; nothing here stores state itself:

- `memory`: `InMemorySaver` (this process only);
- `sqlite:///relative/path.db` or `sqlite:////absolute/path.db`: `AsyncSqliteSaver`;
- `postgresql://user@host:port/db`: `AsyncPostgresSaver` (the `postgres` extra), its tables
  created on first use (`setup()`), as LangGraph Server on PostgreSQL keeps runs.

With a checkpointer every finished sub-query is saved as its own write, so a run killed halfway
resumes on the same thread (`ainvoke(None, config)`, `comp-llm ask --resume --thread ID`) without
running those sub-queries again, and a conversation continues across processes.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.urls import shown

__all__ = ["CHECKPOINT_SCHEMES", "open_checkpointer"]

CHECKPOINT_SCHEMES = ("memory", "sqlite:///PATH", "postgresql://...")
"""The forms of checkpoint URL accepted."""


@contextlib.asynccontextmanager
async def open_checkpointer(url: str) -> AsyncIterator[Any]:
    """The saver `url` names, open for the duration of the block.

    Raises:
        CompLLMError: an unknown URL form, the postgres extra missing, or no database there.
    """
    scheme = urlsplit(url).scheme
    if url == "memory":
        from langgraph.checkpoint.memory import InMemorySaver

        yield InMemorySaver()
    elif scheme == "sqlite":
        async with _sqlite(url) as saver:
            yield saver
    elif scheme in ("postgresql", "postgres"):
        async with _postgres(url) as saver:
            yield saver
    else:
        raise CompLLMError(f"a checkpoint is one of {', '.join(CHECKPOINT_SCHEMES)}; "
                           f"got {shown(url)!r}.")


def _sqlite(url: str) -> Any:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = url.removeprefix("sqlite:///")
    if not path or path == url:
        raise CompLLMError("write a SQLite checkpoint as sqlite:///path/to/file.db; "
                           f"got {shown(url)!r}.")
    _check_sqlite_file(Path(path))
    return AsyncSqliteSaver.from_conn_string(path)


def _check_sqlite_file(path: Path) -> None:
    """Refuse a path that cannot hold a SQLite checkpoint, before the run, with the reason.

    (A folder, a path under a file, an unwritable place, a file that is not SQLite: each would
    otherwise fail inside aiosqlite after the run started.)
    """
    where = f"the SQLite checkpoint {str(path)!r}"
    if path.is_dir():
        raise CompLLMError(f"{where} is a folder; name a file in it, e.g. {path / 'runs.db'}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("PRAGMA schema_version").fetchone()
    except FileExistsError as exc:
        raise CompLLMError(f"{where} cannot be made: {exc.filename!r} is a file, not a folder."
                           ) from exc
    except OSError as exc:
        raise CompLLMError(f"{where} cannot be made: {exc.strerror or exc}.") from exc
    except sqlite3.DatabaseError as exc:  # not a database, or one SQLite cannot open there
        raise CompLLMError(f"{where} cannot be used: {exc}. Name a new file or a checkpoint "
                           "this program wrote.") from exc


@contextlib.asynccontextmanager
async def _postgres(url: str) -> AsyncIterator[Any]:
    try:
        import psycopg
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    except ImportError as exc:
        raise CompLLMError(
            "PostgreSQL checkpoints need the postgres extra: pip install "
            "'comp-llm-graph[postgres]' (langgraph-checkpoint-postgres, psycopg).") from exc
    try:
        async with AsyncPostgresSaver.from_conn_string(url) as saver:
            await saver.setup()
            yield saver
    except psycopg.OperationalError as exc:
        parts = urlsplit(url)  # named without its user and password
        where = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
        raise CompLLMError(f"cannot use the PostgreSQL checkpoint at {where}: {exc}".strip()
                           ) from exc
