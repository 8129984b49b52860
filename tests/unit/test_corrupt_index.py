"""A corrupt Chroma store on disk: moved aside and rebuilt from the cards, with a warning.

Real Chroma on a real, damaged SQLite file (truncated like a crash mid-copy, or a garbage
header); keyword embeddings instead of MiniLM (`tests/real/test_cli_reliability.py` runs the
same through the CLI on the real models).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from chromadb.errors import InternalError

from comp_llm_graph.errors import CorruptIndexError
from comp_llm_graph.experts import ExpertRegistry
from comp_llm_graph.experts.routing import recovery
from comp_llm_graph.experts.routing.chroma import ChromaStore
from tests.fakes import CARDS, KeywordEmbeddings, ephemeral_client

QUESTION = "What is the capital of Peru?"


def _registry(folder: Path) -> ExpertRegistry:
    return ExpertRegistry(CARDS, embeddings=KeywordEmbeddings(), persist_directory=folder,
                          experts={})


def _built(folder: Path) -> Path:
    """An index of the test cards in `folder`; its SQLite file."""
    _registry(folder).index_cards()
    return folder / recovery.DB_FILE


def _truncate(db: Path) -> None:
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])


def _moved(folder: Path) -> list[Path]:
    return sorted(folder.glob("chroma-corrupt-*"))


@pytest.mark.parametrize("damage", ["truncated", "garbage header"])
def test_a_corrupt_index_is_moved_aside_and_rebuilt_with_a_warning(tmp_path, caplog, damage):
    db = _built(tmp_path)
    if damage == "truncated":
        _truncate(db)
    else:
        db.write_bytes(b"\x07" * 100 + db.read_bytes()[100:])
    registry = _registry(tmp_path)
    with caplog.at_level(logging.WARNING, logger=recovery.__name__):
        [route] = registry.route([QUESTION])
    assert route.expert == "geography"
    [moved] = _moved(tmp_path)
    assert (moved / recovery.DB_FILE).is_file()
    assert registry.router.index.sync_stats["embedded"] == len(CARDS)
    warning = caplog.text
    assert f"the routing index in {tmp_path} was corrupt" in warning
    assert str(moved) in warning and "rebuilt from the cards" in warning
    again = _registry(tmp_path)  # the rebuilt index is a sound one: reused, nothing moved
    assert again.index_cards() == {"embedded": 0, "reused": len(CARDS)} and len(_moved(tmp_path)) == 1


def test_an_unreadable_vector_segment_is_moved_aside_and_rebuilt(tmp_path, caplog):
    # Chroma reads its HNSW files once a collection outgrows its first batch (100 items)
    cards = [c.model_copy(update={"examples": [f"{e} ({i})" for e in c.examples
                                               for i in range(60)]}) for c in CARDS]

    def registry() -> ExpertRegistry:
        return ExpertRegistry(cards, embeddings=KeywordEmbeddings(), persist_directory=tmp_path,
                              experts={})

    registry().index_cards()
    recovery.forget_system(tmp_path, only_unused=False)  # as in a new process: files read again
    [segment] = [p for p in tmp_path.iterdir() if p.is_dir()]
    (segment / "index_metadata.pickle").write_bytes(b"garbage, not a pickle")
    with caplog.at_level(logging.WARNING, logger=recovery.__name__):
        [route] = registry().route([QUESTION])
    assert route.expert == "geography"
    [moved] = _moved(tmp_path)
    assert (moved / segment.name / "index_metadata.pickle").is_file()
    assert "its vector segment could not be read: hnsw segment reader" in caplog.text


def test_corruption_found_mid_run_rebuilds_and_routes(tmp_path, monkeypatch):
    db = _built(tmp_path)
    registry = _registry(tmp_path)
    registry.index_cards()  # the store is open and the collection handed out
    _truncate(db)
    checked = registry.router.index._collection

    def failing(*args, **kwargs):
        raise InternalError("Error executing plan: database disk image is malformed")

    monkeypatch.setattr(checked._collection, "query", failing)
    [route] = registry.route([QUESTION])
    assert route.expert == "geography" and len(_moved(tmp_path)) == 1
    assert registry.router.index._collection is not checked  # fetched again from the new store


def test_a_chroma_error_on_a_sound_store_is_not_a_corruption(tmp_path, monkeypatch):
    _built(tmp_path)
    registry = _registry(tmp_path)
    registry.index_cards()
    inner = registry.router.index._collection._collection

    def failing(*args, **kwargs):
        raise InternalError("something else went wrong")

    monkeypatch.setattr(inner, "query", failing)
    with pytest.raises(InternalError, match="something else"):
        registry.route([QUESTION])
    assert _moved(tmp_path) == [] and (tmp_path / recovery.DB_FILE).is_file()


def test_a_store_that_is_not_on_disk_is_never_moved(tmp_path):
    _truncate(_built(tmp_path))
    store = ChromaStore(tmp_path, client=ephemeral_client())
    assert not store.on_disk

    def failing():
        raise InternalError("database disk image is malformed")

    with pytest.raises(InternalError):
        store.run(failing)
    assert not ChromaStore(tmp_path, url="http://127.0.0.1:9").on_disk
    assert _moved(tmp_path) == []


def test_a_corrupt_index_that_cannot_be_moved_says_what_to_delete(tmp_path, monkeypatch):
    db = _built(tmp_path)
    _truncate(db)

    def refuse(self, target):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "rename", refuse)
    with pytest.raises(CorruptIndexError) as info:
        _registry(tmp_path).route([QUESTION])
    message = str(info.value)
    assert f"the routing index in {tmp_path} is corrupt" in message
    assert f"Delete {db}" in message and "rebuilt from the expert cards" in message
