"""Recovering a corrupt Chroma store on disk: confirm it with SQLite, move it aside, start anew.

Chroma reports a damaged `chroma.sqlite3` in many ways (`InternalError` "database disk image is
malformed", `InvalidArgumentError` "Failed to pull logs", a Rust panic, ...) and at any call, so
the error alone does not say "corrupt". SQLite's own `PRAGMA integrity_check` does: only a store
it finds corrupt is moved aside, never one that is merely locked or busy, and never a Chroma
server's. Moving (not deleting) keeps the damaged files for a look; everything in the store is
derived data made again from the cards (or by rerunning `experts fit` / `demonstrations`).

The vector segments (the UUID-named folders of HNSW files beside it) have no such check: a
store whose SQLite file is sound is taken as corrupt only when Chroma's error says it could not
read a segment (`segment_problem`). Damage that kills the process inside Chroma's Rust core
(seen with garbage in `data_level0.bin`) cannot be caught at all; deleting the folder's store
files recovers from it.

Two processes on one folder: the move happens under a lock file, and only when the file is still
the one this process opened, so one process never moves aside the store the other just made.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from comp_llm_graph.errors import CorruptIndexError

__all__ = ["DB_FILE", "close", "forget_system", "identity", "is_store_failure", "move_aside",
           "segment_problem", "sqlite_problem"]

log = logging.getLogger(__name__)

DB_FILE = "chroma.sqlite3"
"""Chroma's SQLite file in a persistent folder (its segment folders are named by UUID)."""
_SEGMENT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
_CALLER_ERRORS = ("NotFoundError", "UniqueConstraintError", "DuplicateIDError",
                  "IDAlreadyExistsError", "InvalidDimensionException")
"""Chroma errors about the request, never about the file: no check is run for them."""


def is_store_failure(exc: BaseException) -> bool:
    """Whether `exc` may come from a damaged store.

    A Chroma error (not one about the request), or a panic of its Rust core (a `BaseException`,
    so `except Exception` misses it).
    """
    from chromadb.errors import ChromaError

    if isinstance(exc, ChromaError):
        return type(exc).__name__ not in _CALLER_ERRORS
    return type(exc).__name__ == "PanicException"


def identity(folder: Path) -> tuple[int, int] | None:
    """(device, inode) of the folder's SQLite file, or None when there is none."""
    try:
        stat = (folder / DB_FILE).stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def sqlite_problem(db: Path) -> str | None:
    """What SQLite finds wrong with `db`, or None: sound, missing, or not checkable now."""
    if not db.is_file():
        return None
    try:
        connection = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            rows = [str(row[0]) for row in connection.execute("PRAGMA integrity_check(3)")]
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
        text = str(exc)
        if code in _CORRUPT_CODES or (code is None and ("malformed" in text
                                                        or "not a database" in text)):
            return text
        return None  # locked, busy, cannot open: not known to be corrupt
    return None if rows == ["ok"] else "; ".join(rows)


_SEGMENT_FAILURE = re.compile(
    r"hnsw segment (reader|writer)|loading hnsw index|deserializing pickle|Error finding id",
    re.IGNORECASE)


def segment_problem(exc: BaseException) -> str | None:
    """What Chroma's error says is wrong with a vector segment's files, or None."""
    text = str(exc)
    found = _SEGMENT_FAILURE.search(text)
    return None if found is None else text[found.start():][:200]


def move_aside(folder: Path, exc: BaseException, opened: tuple[int, int] | None) -> Path | None:
    """Move the corrupt store in `folder` aside after `exc`; re-raise `exc` if it is sound.

    Returns:
        The folder the store is now in; None when another process already replaced it.

    Raises:
        CorruptIndexError: it is corrupt but could not be moved (naming what to delete).
    """
    db = folder / DB_FILE
    with _locked(folder):
        now = identity(folder)
        if opened is not None and now != opened:
            return None  # not the file this process opened: replaced already, use the new one
        problem = sqlite_problem(db)
        problem = f"SQLite: {problem}" if problem else None
        if problem is None and db.is_file() and (segment := segment_problem(exc)):
            problem = f"its vector segment could not be read: {segment}"
        if problem is None:
            if type(exc).__name__ == "PanicException":  # not an `Exception`: make it one
                raise RuntimeError(f"Chroma failed on {folder}: {exc}") from exc
            raise exc
        parts = [p for p in folder.iterdir() if p.name.startswith(DB_FILE)
                 or (p.is_dir() and _SEGMENT.match(p.name))]
        target = _free_name(folder / f"chroma-corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            target.mkdir()
            for part in parts:
                part.rename(target / part.name)
        except OSError as error:
            raise CorruptIndexError(
                f"the routing index in {folder} is corrupt ({problem}) and could not be "
                f"moved aside ({error}). Delete {db} and the UUID-named folders beside it: "
                "the index is rebuilt from the expert cards on the next run.") from exc
    log.warning(
        "the routing index in %s was corrupt (%s); moved it to %s and made a new one: "
        "the experts' index is rebuilt from the cards now. Labelled examples of `comp-llm "
        "experts fit` and plan demonstrations of `comp-llm demonstrations` kept there are not: "
        "rerun those commands if you used them. Delete %s once you no longer need it.",
        folder, problem, target, target)
    return target


def close(client: Any, folder: Path) -> None:
    """Let go of the client of a store moved aside, so that a new one opens the new file."""
    if client is not None:
        with contextlib.suppress(Exception):  # closing a broken store may fail too
            client.close()
    forget_system(folder, only_unused=False)


def forget_system(folder: Path, *, only_unused: bool) -> None:
    """Drop chromadb's cached `System` for `folder` (private API, chromadb 1.x).

    chromadb keeps one System per path, also one whose start failed, and hands it to the next
    client of that path, which then fails with an `AttributeError`. `only_unused`: drop it only
    when no client holds it (after a failed open); else stop it too (the store moved aside).
    """
    from chromadb.api.shared_system_client import SharedSystemClient as Shared

    systems = getattr(Shared, "_identifier_to_system", None)
    counts = getattr(Shared, "_identifier_to_refcount", None)
    if not isinstance(systems, dict) or not isinstance(counts, dict):
        return
    key = str(folder)
    if only_unused and counts.get(key, 0) > 0:
        return
    system = systems.pop(key, None)
    counts.pop(key, None)
    if system is not None and not only_unused:
        with contextlib.suppress(Exception):
            system.stop()


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on `folder/.chroma-recovery.lock` (none where `fcntl` is missing)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the identity check still applies
        yield
        return
    try:
        handle = open(folder / ".chroma-recovery.lock", "a")  # noqa: SIM115 - held below
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _free_name(path: Path) -> Path:
    """`path`, or `path-2`, `path-3`, ... : the first that does not exist."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate
