"""The Chroma client behind the routing collections: on disk, on a Chroma server, or given.

One setting moves every collection (the cards' index, the learned router's examples and
capabilities, the planner's demonstrations) to a Chroma server: `chroma_url=` in Python, the
`COMP_LLM_CHROMA_URL` environment variable, or `comp-llm --chroma-url URL ...`. A token for a
server behind authentication is read from `COMP_LLM_CHROMA_TOKEN` (never from a command line)
and sent as `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from comp_llm_graph.errors import CompLLMError

__all__ = ["CHROMA_TOKEN_ENV", "CHROMA_URL_ENV", "ChromaStore", "chroma_client"]

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
        raise CompLLMError(f"the Chroma URL must look like http://127.0.0.1:8000; got {url!r}.")
    token = os.environ.get(CHROMA_TOKEN_ENV)
    try:
        return chromadb.HttpClient(
            host=parts.hostname, port=parts.port or (443 if parts.scheme == "https" else 8000),
            ssl=parts.scheme == "https",
            headers={"Authorization": f"Bearer {token}"} if token else None,
            settings=Settings(anonymized_telemetry=False))
    except Exception as exc:  # noqa: BLE001 - chromadb raises plain errors for a dead server
        raise CompLLMError(
            f"no Chroma server answers at {url} ({type(exc).__name__}: {exc}). Start one with "
            f"`chroma run --path DIR --host 127.0.0.1 --port N`, or unset {CHROMA_URL_ENV} / "
            "--chroma-url to keep the index on disk.") from exc


class ChromaStore:
    """Opens the client on first use and hands out collections (cosine space)."""

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
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The Chroma client (a `PersistentClient` in `persist_directory` by default)."""
        with self._lock:
            if self._client is None and self.url:
                self._client = chroma_client(self.url)
            if self._client is None:
                import chromadb
                from chromadb.config import Settings

                self.persist_directory.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(
                    path=str(self.persist_directory),
                    settings=Settings(anonymized_telemetry=False))
            return self._client

    def collection(self, name: str, *, create: bool = True, fresh: bool = False,
                   space: str = "cosine") -> Any:
        """The collection `name`: created if missing (`create`), emptied first with `fresh`.

        `space`: the distance of a new collection (`cosine`, or `ip` for inner products).

        Raises:
            chromadb.errors.NotFoundError: it does not exist and `create` is False.
        """
        from chromadb.errors import NotFoundError

        metadata = {"hnsw:space": space}
        if fresh:
            with contextlib.suppress(NotFoundError):
                self.client.delete_collection(name)
            return self.client.create_collection(name, metadata=metadata)
        if create:
            return self.client.get_or_create_collection(name, metadata=metadata)
        return self.client.get_collection(name)
