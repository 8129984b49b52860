"""Where the package keeps what it computes once: the routing index, fitted routers, model files.

Model files (the de-quantised SmolLM2, re-encoded GGUF copies, the assembled Gemma) are made in
`model_dir()`: `$COMP_LLM_MODEL_DIR`, else `default_cache_dir()/models`. The CLI's `--cache-dir`
sets that variable to `<cache-dir>/models`, so a command writes nothing outside the folder it
was given. A model file already made in the default cache is reused from there instead of
being made again: they are large (hundreds of MB), slow to make and the same for every cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from comp_llm_graph.errors import CompLLMError

__all__ = ["MODEL_DIR_VARIABLE", "default_cache_dir", "model_dir", "model_file",
           "usable_cache_dir"]

MODEL_DIR_VARIABLE = "COMP_LLM_MODEL_DIR"


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/comp-llm-graph`, or `~/.cache/comp-llm-graph`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "comp-llm-graph"


def model_dir() -> Path:
    """Where model files are made: `$COMP_LLM_MODEL_DIR`, else `default_cache_dir()/models`."""
    chosen = os.environ.get(MODEL_DIR_VARIABLE)
    return Path(chosen).expanduser() if chosen else default_cache_dir() / "models"


def model_file(name: str, made: Callable[[Path], bool]) -> Path:
    """The path of model file (or folder) `name`, made or to be made.

    The one in `model_dir()` if `made` says it is complete; else one already made in the default
    cache (reused, not made again); else the path in `model_dir()` to make it at.
    """
    target = model_dir() / name
    if made(target):
        return target
    shared = default_cache_dir() / "models" / name
    return shared if shared != target and made(shared) else target


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
