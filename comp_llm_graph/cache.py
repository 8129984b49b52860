"""Where the package keeps what it computes once: the routing index, fitted routers, model files."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_cache_dir"]


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/comp-llm-graph`, or `~/.cache/comp-llm-graph`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "comp-llm-graph"
