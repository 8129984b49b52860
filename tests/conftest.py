"""Fixtures, and the split of the suite: `tests/unit` runs on fakes, `tests/real` on real components.

Every test under `tests/real/` is marked `real` here, so `pytest -m "not real"` is the fast unit
suite and `pytest -m real` the real-component one, whatever a test file declares.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import KeywordEmbeddings

REAL = Path(__file__).parent / "real"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.real)


@pytest.fixture(autouse=True)
def _no_deployment_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without the deployment variables (a Chroma server, a checkpoint URL),
    whatever the shell or an earlier in-process CLI call set; each is restored afterwards."""
    for name in ("COMP_LLM_CHROMA_URL", "COMP_LLM_CHROMA_TOKEN", "COMP_LLM_CHECKPOINT",
                 "COMP_LLM_MODEL_DIR"):
        monkeypatch.setenv(name, "")  # records the value to restore, even "not set"
        monkeypatch.delenv(name)


@pytest.fixture
def keyword_embeddings() -> KeywordEmbeddings:
    return KeywordEmbeddings()
