"""Unit tests: `comp-llm ask` sets the engine's settings process-wide; each test starts afresh."""

from __future__ import annotations

import pytest

from comp_llm_graph.runtimes.pool import DEFAULTS, configure


@pytest.fixture(autouse=True)
def _reset_model_settings():
    yield
    configure(memory_budget=None, max_batch_size=8)
    DEFAULTS.update(threads=None)
