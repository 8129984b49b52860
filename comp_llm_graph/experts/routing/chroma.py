"""The Chroma client behind the routing collections: on disk, on a Chroma server, or given.

One setting moves every collection (the cards' index, the learned router's examples and
capabilities, the planner's demonstrations) to a Chroma server: `chroma_url=` in Python, the
`COMP_LLM_CHROMA_URL` environment variable, or `comp-llm --chroma-url URL ...`. A token for a
server behind authentication is read from `COMP_LLM_CHROMA_TOKEN` (never from a command line)
and sent as `Authorization: Bearer <token>`; a user and password in the URL
(`http://user:password@host:8000`) are sent as basic authentication and never printed.

A store on disk that SQLite finds corrupt (a crash or a full disk mid-write, a truncated copy)
is moved aside into `chroma-corrupt-<time>/` in its folder and made again, with a warning: what
it holds is derived (the cards' index is rebuilt from the cards on first use; collections made
by `comp-llm experts fit` / `comp-llm demonstrations` are made again by rerunning them). This is
`comp_llm_graph.experts.routing.recovery`; a Chroma server or a client given is never touched.
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from comp_llm_graph.errors import CompLLMError, CorruptIndexError
from comp_llm_graph.experts.routing import recovery
from comp_llm_graph.urls import shown

__all__ = ["CHROMA_TOKEN_ENV", "CHROMA_URL_ENV", "ChromaStore", "StoreRecovered",
           "chroma_client"]

T = TypeVar("T")


class StoreRecovered(CorruptIndexError):
    """The store was found corrupt and made again: what was running must start over on it."""

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
CHROMA_URL_ENV = "COMP_LLM_CHROMA_URL"
"""Environment variable naming the Chroma server, e.g. `http://127.0.0.1:8000`."""
CHROMA_TOKEN_ENV = "COMP_LLM_CHROMA_TOKEN"
"""Environment variable holding the Chroma server's token, if it needs one."""


def chroma_client(url: str) -> Any:
    """A `chromadb.HttpClient` for the server at `url` (http or https, default port 8000).

    Raises:
        CompLLMError: the URL is not http(s)://host[:port], or no Chroma server answers there.
    """
    import chromadb
    from chromadb.config import Settings

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CompLLMError("the Chroma URL must look like http://127.0.0.1:8000; "
                           f"got {shown(url)!r}.")
    try:
        return chromadb.HttpClient(
            host=parts.hostname, port=parts.port or (443 if parts.scheme == "https" else 8000),
            ssl=parts.scheme == "https", headers=_auth_headers(url),
            settings=Settings(anonymized_telemetry=False))
    except Exception as exc:  # noqa: BLE001 - chromadb raises plain errors for a dead server
        raise CompLLMError(
            f"no Chroma server answers at {shown(url)} ({type(exc).__name__}: {exc}). Start one "
            f"with `chroma run --path DIR --host 127.0.0.1 --port N`, or unset {CHROMA_URL_ENV} / "
            "--chroma-url to keep the index on disk.") from exc


def _auth_headers(url: str) -> dict[str, str] | None:
    """Basic auth from the URL's user and password, or a bearer token from the environment.

    Raises:
        CompLLMError: both are given (which one is meant cannot be guessed).
    """
    parts, token = urlsplit(url), os.environ.get(CHROMA_TOKEN_ENV)
    if parts.username is not None and token:
        raise CompLLMError(f"the Chroma URL {shown(url)} has a user and {CHROMA_TOKEN_ENV} a "
                           "token; give one of them.")
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    return {"Authorization": f"Bearer {token}"} if token else None


class ChromaStore:
    """Opens the client on first use and hands out collections (cosine space).

    On disk, every call is checked: a store found corrupt is moved aside and made again
    (`recovery`). A collection handed out before that raises `StoreRecovered` on its next
    call, so that its holder fetches it again (the cards' index does) or the run stops with a
    message that says to run again.
    """

    def __init__(self, persist_directory: Path, client: Any | None = None,
                 url: str | None = None):
        """A store on `client`, else on the server at `url` or `COMP_LLM_CHROMA_URL`, else on disk.

        The disk store is in `persist_directory`.
        """
        self.persist_directory = persist_directory
        self._client = client
        if client is None and url is None:
            url = os.environ.get(CHROMA_URL_ENV) or None
        self.url = url if client is None else None
        """The Chroma server used, or None (the client given, or the one on disk)."""
        self.on_disk = client is None and not self.url
        """Whether the store is the persistent client in `persist_directory` (it may be
        recovered: moved aside when corrupt)."""
        self.generation = 0
        """How many times the store was made again; a collection of an older one is stale."""
        self.moved_to: Path | None = None
        """Where the last corrupt store was moved."""
        self._opened: tuple[int, int] | None = None
        self._lock = threading.RLock()

    @property
    def client(self) -> Any:
        """The Chroma client (a `PersistentClient` in `persist_directory` by default)."""
        with self._lock:
            if self._client is None and self.url:
                self._client = chroma_client(self.url)
            if self._client is None:
                self._client = self._open_on_disk()
            return self._client

    def _open_on_disk(self) -> Any:
        import chromadb
        from chromadb.config import Settings

        try:
            self.persist_directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CompLLMError(f"cannot make the routing index folder {self.persist_directory}: "
                               f"{exc.strerror or exc}; give a folder you can write in.") from exc
        self._opened = recovery.identity(self.persist_directory)
        try:
            return chromadb.PersistentClient(path=str(self.persist_directory),
                                             settings=Settings(anonymized_telemetry=False))
        except BaseException as exc:
            if recovery.is_store_failure(exc):  # chromadb keeps the failed one for the path
                recovery.forget_system(self.persist_directory, only_unused=True)
            raise

    def run(self, call: Callable[[], T], *, again: bool = True, generation: int | None = None
            ) -> T:
        """`call()`, recovering a store on disk that turns out corrupt.

        After the store was moved aside, `call` runs once more on the new one (`again`), or
        `StoreRecovered` says it was. `generation`: the store the caller's collection came
        from; a collection of an older one is refused.

        Raises:
            StoreRecovered: the store was corrupt and is made again (not `again`), or the
                caller's collection is of a store made again since.
            CorruptIndexError: the store is corrupt and could not be moved aside (the message
                says what to delete).
        """
        if generation is not None and generation != self.generation:
            raise StoreRecovered(self._recovered_note())
        try:
            return call()
        except BaseException as exc:
            if not recovery.is_store_failure(exc) or not self.on_disk:
                raise
            with self._lock:
                if generation is not None and generation != self.generation:
                    raise StoreRecovered(self._recovered_note()) from exc
                self.moved_to = recovery.move_aside(self.persist_directory, exc, self._opened)
                client, self._client, self._opened = self._client, None, None
                recovery.close(client, self.persist_directory)
                self.generation += 1
        if not again:
            raise StoreRecovered(self._recovered_note())
        return call()

    def _recovered_note(self) -> str:
        moved = f"; it was moved to {self.moved_to}" if self.moved_to else ""
        return (f"the Chroma store in {self.persist_directory} was corrupt and is made again"
                f"{moved}. Run again: the experts' index is rebuilt from the cards.")

    def collection(self, name: str, *, create: bool = True, fresh: bool = False,
                   space: str = "cosine") -> Any:
        """The collection `name`: created if missing (`create`), emptied first with `fresh`.

        `space`: the distance of a new collection (`cosine`, or `ip` for inner products).

        Raises:
            chromadb.errors.NotFoundError: it does not exist and `create` is False.
        """
        return self.run(lambda: self._collection(name, create, fresh, space))

    def _collection(self, name: str, create: bool, fresh: bool, space: str) -> Any:
        from chromadb.errors import NotFoundError

        metadata = {"hnsw:space": space}
        if fresh:
            with contextlib.suppress(NotFoundError):
                self.client.delete_collection(name)
            found = self.client.create_collection(name, metadata=metadata)
        elif create:
            found = self.client.get_or_create_collection(name, metadata=metadata)
        else:
            found = self.client.get_collection(name)
        return found if not self.on_disk else CheckedCollection(found, self, self.generation)


class CheckedCollection:
    """A Chroma collection on disk whose calls go through `ChromaStore.run`.

    Without a retry there: after a recovery, the holder's view of the collection (e.g. what it
    synced into it) is stale, so the call raises `StoreRecovered` for the holder to handle.
    """

    CALLS = frozenset({"add", "count", "delete", "get", "modify", "peek", "query", "update",
                       "upsert"})

    def __init__(self, collection: Any, store: ChromaStore, generation: int):
        """Wrap `collection`, handed out by `store` in its `generation`."""
        self._collection = collection
        self._store = store
        self._generation = generation

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._collection, name)
        if name not in self.CALLS or not callable(value):
            return value

        def checked(*args: Any, **kwargs: Any) -> Any:
            return self._store.run(lambda: value(*args, **kwargs), again=False,
                                   generation=self._generation)

        return checked
