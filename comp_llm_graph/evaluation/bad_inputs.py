"""Bad input where users give it: queries, expert cards, folders, checkpoints, settings, math.

Each input goes through the function that receives it from a user (`validate_query`,
`load_card`, `usable_cache_dir`, `open_checkpointer`, `Context`, `configure` and the
environment, the Chroma client, the math expert's evaluator and its expression finder).
A refusal that prints a password given in a URL counts as *other*; so does an arithmetic
phrasing answered exactly but wrong.
Its outcome is one of: *refused* with a clear error (this package's `CompLLMError` or a
`ValueError` naming the problem), *accepted* (a valid input, e.g. a question that contains
markup, or an expression too large to evaluate going to the fallback), or *other*, an
exception of any other kind, which is a bug. The slowest input of each class is timed.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from comp_llm_graph.errors import CompLLMError

__all__ = ["bad_inputs"]

QUERIES: list[Any] = [
    "", "   \n\t", None, 42, b"bytes", "\ud800 what is this?", "What is [/b] the capital?",
    "\x1b[31mred\x1b[0m and \x07bell", "nul\x00byte", "\u202eright to left", "x" * 1_000_000,
]
CARDS: list[str | bytes] = [
    "name: a\ndescription: d\nexamples: [q]\nbackend: smollm2\n1: one\n",
    "name: a\ndescription: d\nexamples: [q]\nbackend: smollm2\nsource: /etc/passwd\n",
    "name: a\ndescription: d\nexamples: [q]\nbackend: sympy\noptions: {fallback_backend: [1, 2]}\n",
    "name: a\ndescription: d\nexamples: [q]\nbackend: nonsense\n",
    "name: a\nexamples: [q]\nbackend: smollm2\n",
    "name: [a, b]\ndescription: d\nexamples: [q]\nbackend: smollm2\n",
    "name: a\ndescription: d\nexamples: [q]\nbackend: smollm2\nmax_concurrency: -3\n",
    "name: a\ndescription: d\nexamples: [q]\nbackend: smollm2\ntimeout: soon\n",
    "- just\n- a list\n", "name: a\n  description: [unclosed\n", "", b"\xff\xfe\x00 binary",
    "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"  # a billion laughs
    + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
    + "name: a\ndescription: *a9\nbackend: smollm2\n",
    "name: a\ndescription: " + "x" * 300_000 + "\n",  # over MAX_CARD_BYTES
    "[" * 20_000 + "]" * 20_000,  # nested past the parser's depth
    "name: a\ndescription: d\nexamples: [q]\nbackend: sympy\noptions: {sympy_timeout: .inf}\n",
    "name: a\ndescription: d\nexamples: [q]\nbackend: sympy\noptions: {sympy_timeout: .nan}\n",
]
CHECKPOINTS = ["mysql://db", "sqlite://relative.db", "", "memory://x", "sqlite:///",
               "sqlite:///{tmp}/a-file/runs.db", "sqlite:////proc/comp-llm/runs.db",
               "sqlite:///{tmp}/not-sqlite.db", "sqlite:///{tmp}"]
SECRET = "Hunter2Secret"
SECRET_URLS = [("checkpoint", f"mysql://admin:{SECRET}@127.0.0.1:9/x"),
               ("checkpoint", f"postgres://admin:{SECRET}@[::1:5432/x"),
               ("chroma", f"http://u:{SECRET}@127.0.0.1:9"),
               ("chroma", f"ftp://u:{SECRET}@127.0.0.1:9")]
MODEL_SETTINGS: list[dict[str, Any]] = [
    {"env": "abc"}, {"env": "0"}, {"env": "1.5"}, {"env": "99999"},
    {"max_batch_size": 2000}, {"max_batch_size": 0}, {"threads": 0}, {"threads": 100_000},
]
SETTINGS: list[dict[str, Any]] = [
    {"expert_timeout": -1}, {"expert_timeout": "soon"}, {"max_concurrency": 0},
    {"mode": "fast"}, {"expert_retries": -1}, {"max_subqueries": 0}, {"max_subqueries": 1000},
    {"schedule": "soon"}, {"aggregate": "vote"},
]
EXPRESSIONS = ["9^9^7", "9^9^8", "10^(10^7)", "(" * 50 + "1" + ")" * 50, "1/0", "2^-99999999",
               "factorial(10^6)", "9" * 20_000 + " * 2"]


def _is_clear(exc: BaseException) -> bool:
    return isinstance(exc, (CompLLMError, ValueError)) and len(str(exc)) > 10


async def _tally(inputs: list[Any], attempt: Callable[[Any], Awaitable[Any]]) -> dict[str, Any]:
    row = {"tried": len(inputs), "refused": 0, "accepted": 0, "other": 0, "slowest_s": 0.0,
           "others": []}
    for item in inputs:
        started = time.perf_counter()
        try:
            await attempt(item)
            row["accepted"] += 1
        except Exception as exc:  # noqa: BLE001 - sorted into clear errors and bugs
            if _is_clear(exc):
                row["refused"] += 1
            else:
                row["other"] += 1
                row["others"].append(f"{item!r:.40}: {type(exc).__name__}: {exc}"[:200])
        row["slowest_s"] = round(max(row["slowest_s"], time.perf_counter() - started), 3)
    return row


async def bad_inputs() -> dict[str, dict[str, Any]]:
    """Outcomes per class of bad input (see the module docstring)."""
    from comp_llm_graph.cache import usable_cache_dir
    from comp_llm_graph.checkpoints import open_checkpointer
    from comp_llm_graph.context import Context
    from comp_llm_graph.errors import validate_query
    from comp_llm_graph.evaluation.phrasings import PHRASINGS
    from comp_llm_graph.experts.backends import BACKEND_CHECKS
    from comp_llm_graph.experts.cards import load_card
    from comp_llm_graph.experts.math_tool import aevaluate_arithmetic, find_expression
    from comp_llm_graph.experts.routing.chroma import chroma_client
    from comp_llm_graph.runtimes.pool import (
        DEFAULTS,
        THREADS_VARIABLE,
        configure,
        threads_from_environment,
    )

    saved = dict(DEFAULTS)

    with tempfile.TemporaryDirectory(prefix="comp-llm-bad-") as tmp:
        folder = Path(tmp)

        async def query(item: Any) -> None:
            validate_query(item)

        async def card(text: str | bytes) -> None:
            path = folder / "card.yaml"
            path.write_bytes(text if isinstance(text, bytes) else text.encode())
            loaded = load_card(path)
            check = BACKEND_CHECKS.get(loaded.backend)  # as when a registry is built
            if check is not None:
                check(loaded)

        async def cache(path: Path) -> None:
            usable_cache_dir(path)

        async def checkpoint(url: str) -> None:
            async with open_checkpointer(url.replace("{tmp}", tmp)):
                pass

        async def secret(item: tuple[str, str]) -> None:
            kind, url = item
            try:
                if kind == "checkpoint":
                    await checkpoint(url)
                else:
                    chroma_client(url)
            except Exception as exc:
                if SECRET in str(exc):
                    raise RuntimeError(f"the password was printed: {exc}") from None
                raise

        async def model_settings(options: dict[str, Any]) -> None:
            if "env" in options:
                os.environ[THREADS_VARIABLE] = options["env"]
                try:
                    threads_from_environment()
                finally:
                    del os.environ[THREADS_VARIABLE]
            else:
                configure(**options)

        async def phrasing(item: tuple[str, str | None]) -> None:
            question, value = item
            found = find_expression(question)
            got = None if found is None else await aevaluate_arithmetic(found)
            if got is not None and got != value:
                raise RuntimeError(f"stated {found} = {got} exactly; right: {value}")

        async def settings(options: dict[str, Any]) -> None:
            Context(**options)

        async def expression(text: str) -> None:
            await asyncio.wait_for(aevaluate_arithmetic(text), 30)

        (folder / "a-file").write_text("not a folder")
        (folder / "not-sqlite.db").write_text("not a database")
        read_only = folder / "read-only"
        read_only.mkdir()
        read_only.chmod(0o500)
        caches = [folder / "a-file", folder / "a-file" / "below", Path("/proc/comp-llm")]
        if os.geteuid() != 0:  # root writes anywhere: a read-only folder is no test then
            caches += [read_only, read_only / "inside"]
        try:
            return {
                "queries": await _tally(QUERIES, query),
                "expert cards": await _tally(CARDS, card),
                "cache folders": await _tally(caches, cache),
                "checkpoint URLs": await _tally(CHECKPOINTS, checkpoint),
                "run settings": await _tally(SETTINGS, settings),
                "model settings": await _tally(MODEL_SETTINGS, model_settings),
                "passwords in URLs": await _tally(SECRET_URLS, secret),
                "math expressions": await _tally(EXPRESSIONS, expression),
                "arithmetic phrasings": await _tally(PHRASINGS, phrasing),
            }
        finally:
            read_only.chmod(0o700)
            DEFAULTS.update(saved)
