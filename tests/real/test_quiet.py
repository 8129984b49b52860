"""Quiet by default: no third-party progress bar on stderr, also when models load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "comp-llm")
pytestmark = pytest.mark.real


def _stderr(tmp_path: Path, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("COMP_LLM_PROGRESS", "HF_HUB_DISABLE_PROGRESS_BARS")} | env
    done = subprocess.run([CLI, "route", "--json", "--router", "similarity", "--cache-dir",
                           str(tmp_path), "What is 2 plus 2?"],
                          capture_output=True, text=True, timeout=600, env=environment)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


def test_loading_the_embedding_model_draws_no_progress_bar(tmp_path):
    stderr = _stderr(tmp_path / "quiet")  # a fresh index: MiniLM loads and embeds the cards
    assert "Loading weights" not in stderr and "it/s]" not in stderr, stderr[-1000:]


def test_progress_bars_come_back_when_asked_for(tmp_path):
    assert "Loading weights" in _stderr(tmp_path / "loud", COMP_LLM_PROGRESS="1")
