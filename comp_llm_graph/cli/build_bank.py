"""`comp-llm demonstrations`: build the planner's bank of gold decompositions (train splits)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from comp_llm_graph.cache import usable_cache_dir
from comp_llm_graph.cli.options import CacheDir
from comp_llm_graph.cli.render import err, fail, out
from comp_llm_graph.errors import CompLLMError

__all__ = ["demonstrations"]


def demonstrations(
    data: Annotated[Path, typer.Option(
        help="The data folder holding strategyqa/train.json and musique/musique_train.json.")],
    cache_dir: CacheDir = None,
) -> None:
    """Embed the train-split decompositions the planner is shown (replaces an earlier bank)."""
    from comp_llm_graph.planning.demonstrations import PlanDemonstrations

    try:
        with err.status("Embedding the train-split decompositions (about a minute)...",
                        spinner="dots"):
            folder = usable_cache_dir(cache_dir, "--cache-dir") if cache_dir else None
            bank = PlanDemonstrations.build(data, folder=folder)
    except CompLLMError as exc:
        fail(exc)
    out.print(f"{len(bank)} plan demonstrations in the cache; the planner now sees the "
                  "nearest ones for each query.")
