"""The pool of resident local models: loaded on first use, shared, kept within a memory budget.

Every caller on the same weights (the planner, the aggregator and all prompt-specialised experts)
uses one copy. `ModelPool.use` holds a model for a block; loading a model that would exceed the
budget first unloads the least recently used idle model, or waits until one is idle.
"""

from __future__ import annotations

import gc
import os
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from comp_llm_graph.errors import CompLLMError

__all__ = [
    "DEFAULTS",
    "MODEL_POOL",
    "MemoryBudgetError",
    "ModelKey",
    "ModelPool",
    "configure",
    "parse_bytes",
]


class MemoryBudgetError(CompLLMError, MemoryError):
    """A model does not fit in the memory budget even with every other model unloaded."""


def parse_bytes(value: str | int | float | None) -> int | None:
    """`2GiB`, `512MB`, `1.5G`, `1000000` -> bytes; None or '' -> None (no budget)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return int(value)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b?)\s*", str(value), re.IGNORECASE)
    if not match:
        raise ValueError(
            f"cannot read {value!r} as a memory size; write e.g. 2GiB, 512MB or a byte count")
    number, unit, suffix = float(match[1]), match[2].lower(), match[3].lower()
    base = 1024 if suffix.startswith("i") or (unit and not suffix) else 1000
    return int(number * base ** " kmgt".index(unit or " "))


# -- the pool of resident models -----------------------------------------------------------------

ModelKey = tuple[str, str | None]


@dataclass
class _Resident:
    model: Any
    tokenizer: Any
    nbytes: int
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)


class ModelPool:
    """Resident local models: loaded on first use, shared, and kept within a memory budget."""

    def __init__(self, budget_bytes: int | None = None):
        """A pool; `budget_bytes=None` keeps every model that was loaded."""
        self.budget_bytes = budget_bytes
        self._cond = threading.Condition()
        self._resident: OrderedDict[Any, _Resident] = OrderedDict()
        self._loading: dict[Any, int] = {}
        self.loads: Counter = Counter()
        """How often each model was loaded."""
        self.unloads: Counter = Counter()
        """How often each model was unloaded to make room."""

    @property
    def resident(self) -> dict[Any, int]:
        """Bytes of each resident model."""
        with self._cond:
            return {key: r.nbytes for key, r in self._resident.items()}

    def set_budget(self, budget_bytes: int | None) -> None:
        """Change the budget; idle models over it are unloaded at the next load."""
        with self._cond:
            self.budget_bytes = budget_bytes
            self._cond.notify_all()

    def _used(self) -> int:
        return sum(r.nbytes for r in self._resident.values()) + sum(self._loading.values())

    def _make_room(self, need: int) -> bool:
        """Unload idle models, least recently used first, until `need` fits (lock held)."""
        if self.budget_bytes is None:
            return True
        while self._used() + need > self.budget_bytes:
            idle = [k for k, r in self._resident.items() if r.users == 0]
            if not idle:
                return False
            victim = min(idle, key=lambda k: self._resident[k].last_used)
            _close(self._resident.pop(victim).model)
            self.unloads[victim] += 1
            gc.collect()
        return True

    def unload(self, which: Callable[[Any], bool]) -> None:
        """Unload the idle models whose key satisfies `which` (e.g. at interpreter exit)."""
        with self._cond:
            for key in [k for k, r in self._resident.items() if r.users == 0 and which(k)]:
                _close(self._resident.pop(key).model)
            self._cond.notify_all()

    @contextmanager
    def use(self, key: Any, loader: Callable[[], tuple[Any, Any]],
            estimate: int) -> Iterator[tuple[Any, Any]]:
        """Hold the model `key` (loading it first if needed) for the duration of the block.

        Args:
            key: Identifies the weights; callers with the same key share one copy.
            loader: Loads `(model, tokenizer)`.
            estimate: Bytes the model will take, to make room before loading it.

        Raises:
            MemoryBudgetError: if the model cannot fit even with all others unloaded.
        """
        with self._cond:
            while True:
                if key in self._resident:
                    entry = self._resident[key]
                    entry.users += 1
                    break
                if key in self._loading:
                    self._cond.wait()
                    continue
                if self.budget_bytes is not None and estimate > self.budget_bytes:
                    raise MemoryBudgetError(
                        f"model {key} needs about {estimate / 2**20:.0f} MiB, more than the "
                        f"memory budget of {self.budget_bytes / 2**20:.0f} MiB. Raise the budget "
                        "(--memory-budget / COMP_LLM_MEMORY_BUDGET) or use a smaller model.")
                if self._make_room(estimate):
                    self._loading[key] = estimate
                    entry = None
                    break
                self._cond.wait()  # every resident model is busy: wait for one to be idle
        if entry is None:
            try:
                model, tokenizer = loader()
            except BaseException:
                with self._cond:
                    del self._loading[key]
                    self._cond.notify_all()
                raise
            with self._cond:
                del self._loading[key]
                nbytes = _model_bytes(model, estimate)
                entry = self._resident[key] = _Resident(model, tokenizer, nbytes, users=1)
                self.loads[key] += 1
                self._cond.notify_all()
        try:
            yield entry.model, entry.tokenizer
        finally:
            with self._cond:
                entry.users -= 1
                entry.last_used = time.monotonic()
                self._cond.notify_all()


def _close(model: Any) -> None:
    """Free a model now if it can say so (a llama.cpp server stops its threads)."""
    close = getattr(model, "close", None)
    if callable(close):
        close()


def _model_bytes(model: Any, default: int) -> int:
    parameters = getattr(model, "parameters", None)
    if parameters is None:
        return default
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors) or default


MODEL_POOL = ModelPool(parse_bytes(os.environ.get("COMP_LLM_MEMORY_BUDGET")))


DEFAULTS: dict[str, int | None] = {"max_batch_size": 8, "threads": None}
"""Process-wide defaults of local models, set with `configure` (threads None: the CPU count)."""

MAX_BATCH_SIZE = 64
"""Most parallel sequences of one local model (each takes its own share of the KV cache)."""
MAX_THREADS = 512
"""Most CPU threads per local model."""
THREADS_VARIABLE = "COMP_LLM_THREADS"


def _bounded(name: str, value: int, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise ValueError(f"{name} must be a whole number from 1 to {most}; got {value!r}")
    return value


def threads_from_environment() -> int | None:
    """`COMP_LLM_THREADS` as a number of threads, None when unset.

    Raises:
        ValueError: the variable is set to anything but a whole number from 1 to `MAX_THREADS`
            (checked when a run starts, not at the first model call).
    """
    text = os.environ.get(THREADS_VARIABLE, "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValueError(f"{THREADS_VARIABLE} must be a whole number from 1 to {MAX_THREADS} "
                         f"(threads per local model); got {text[:40]!r}. Unset it to use the "
                         "CPU count.")
    return _bounded(THREADS_VARIABLE, int(text), MAX_THREADS)


def configure(*, memory_budget: str | int | None = None, max_batch_size: int | None = None,
              threads: int | None = None) -> None:
    """Process-wide settings of local models.

    Args:
        memory_budget: Bytes (or e.g. `"2GiB"`) that resident models may take; None: no limit.
        max_batch_size: Default for models that do not set `max_batch_size`: calls generated
            together (llama.cpp: parallel sequences of one model; 1: one call at a time).
        threads: CPU threads per llama.cpp model (default: `COMP_LLM_THREADS`, else the CPU
            count); applies to models loaded afterwards.
    """
    MODEL_POOL.set_budget(parse_bytes(memory_budget))
    threads_from_environment()  # a bad COMP_LLM_THREADS stops the run here, named
    if max_batch_size is not None:
        DEFAULTS["max_batch_size"] = _bounded("max_batch_size (--batch-size)", max_batch_size,
                                              MAX_BATCH_SIZE)
    if threads is not None:
        DEFAULTS["threads"] = _bounded("threads (--threads)", threads, MAX_THREADS)
