"""Unit tests: `comp-llm ask` sets the engine's settings process-wide; each test starts afresh."""

from __future__ import annotations

import pytest

from comp_llm_graph.runtimes.pool import DEFAULTS, MODEL_POOL


@pytest.fixture(autouse=True)
def _reset_model_settings():
    yield
    MODEL_POOL.set_budget(None)
    DEFAULTS.update(max_batch_size=8, threads=None)
