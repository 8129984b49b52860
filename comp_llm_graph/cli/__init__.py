"""The `comp-llm` command line: ask a question; see the plan, the sub-answers, the final answer.

One module per command group (`ask`, `route`, `experts`, `evaluate`, `bench`), on top of the
shared `options` and `render`; this package only assembles them into the root `app`.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from comp_llm_graph.cli import ask, bench, demonstrations, evaluate, experts, route
from comp_llm_graph.cli.render import result_document
from comp_llm_graph.experts.routing.chroma import CHROMA_TOKEN_ENV, CHROMA_URL_ENV

__all__ = ["app", "main", "result_document"]

app = typer.Typer(
    name="comp-llm",
    help="Answer composite questions by composing small expert models (Comp-LLM on LangGraph).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command()(ask.ask)
app.command()(route.route)
app.add_typer(evaluate.eval_app, name="eval")
app.add_typer(experts.experts_app, name="experts")
app.command()(bench.bench)
app.command()(demonstrations.demonstrations)


@app.callback()
def _root(chroma_url: Annotated[str | None, typer.Option(
        help="Keep the routing index on this Chroma server (e.g. http://127.0.0.1:8000; "
             f"default: ${CHROMA_URL_ENV}, else on disk). A token is read from "
             f"${CHROMA_TOKEN_ENV}.")] = None) -> None:
    """Comp-LLM: decompose, route, execute in parallel, aggregate."""
    if chroma_url:  # every command's stores read it (`experts/routing/chroma.py`)
        os.environ[CHROMA_URL_ENV] = chroma_url


def main() -> None:
    """Console-script entry point."""
    app()
