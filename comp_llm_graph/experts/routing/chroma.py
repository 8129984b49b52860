"""The Chroma client behind the routing collections: persistent on disk unless one is given."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

__all__ = ["ChromaStore"]

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


class ChromaStore:
    """Opens the client on first use and hands out collections (cosine space)."""

    def __init__(self, persist_directory: Path, client: Any | None = None):
        """A store in `persist_directory`, or on `client` (any Chroma client) if given."""
        self.persist_directory = persist_directory
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The Chroma client (a `PersistentClient` in `persist_directory` by default)."""
        with self._lock:
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
