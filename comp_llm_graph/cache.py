"""Where the package keeps what it computes once: the routing index, fitted routers, model files.

The model files (the de-quantised SmolLM2, re-encoded GGUF copies, the assembled Gemma) always
lie in `default_cache_dir()/models`, also when a registry keeps its routing index elsewhere
(`--cache-dir`): they are large, slow to make and the same for every index, so one copy serves
them all. Move the whole cache with `XDG_CACHE_HOME`.
"""

from __future__ import annotations

import os
from pathlib import Path

from comp_llm_graph.errors import CompLLMError

__all__ = ["default_cache_dir", "usable_cache_dir"]


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/comp-llm-graph`, or `~/.cache/comp-llm-graph`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "comp-llm-graph"


def usable_cache_dir(path: str | Path, what: str = "the cache folder") -> Path:
    """`path`, made if missing, once it is known to be a folder this process can write in.

    Checked where a folder is first given, so that a file, a read-only place or a missing
    parent is reported with its path instead of failing later, deep in Chroma or onnxruntime.

    Raises:
        CompLLMError: naming the path, what is wrong with it, and what to do.
    """
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise CompLLMError(f"{what} {folder} is not a folder (it is a file); give a folder "
                           "(it is made if missing), or move the file away.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CompLLMError(f"cannot make {what} {folder}: {exc.strerror or exc}; give a folder "
                           "you can write in.") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CompLLMError(f"{what} {folder} is not writable; give a folder you can write in "
                           "(or fix its permissions).")
    return folder
