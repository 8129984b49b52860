"""The `comp-llm` command line: ask a question; see the plan, the sub-answers, the final answer.

One module per command group (`ask`, `route`, `experts`, `evaluate`, `benchmarks` for `bench`,
`models`, `build_bank` for `demonstrations`), on top
of the shared `options` and `render`; this package only assembles them into the root `app`.

`main` is the safety net: bad input is each command's `error: ...` (exit 2), usage errors are
click's, and anything else, a bug, is one `error:` line and where to see its traceback
(`COMP_LLM_DEBUG=1`), exit 1, never a bare traceback; Ctrl-C is `interrupted`, exit 130.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated

import typer

from comp_llm_graph.cli import (
    ask,
    benchmarks,
    build_bank,
    evaluate,
    experts,
    models,
    route,
)
from comp_llm_graph.cli.render import printable, result_document
from comp_llm_graph.experts.routing.chroma import CHROMA_TOKEN_ENV, CHROMA_URL_ENV

__all__ = ["DEBUG_ENV", "app", "main", "result_document"]

DEBUG_ENV = "COMP_LLM_DEBUG"
"""Set to 1 to see the traceback of an unexpected error (a bug) after its one-line message."""

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
app.command()(benchmarks.bench)
app.command()(build_bank.demonstrations)
app.command()(models.models)


@app.callback()
def _root(chroma_url: Annotated[str | None, typer.Option(
        help="Keep the routing index on this Chroma server (e.g. http://127.0.0.1:8000; "
             f"default: ${CHROMA_URL_ENV}, else on disk). A token is read from "
             f"${CHROMA_TOKEN_ENV}.")] = None) -> None:
    """Comp-LLM: decompose, route, execute in parallel, aggregate."""
    if chroma_url:  # every command's stores read it (`experts/routing/chroma.py`)
        os.environ[CHROMA_URL_ENV] = chroma_url


def main() -> None:
    """Console-script entry point: the app, with no traceback for an error it did not expect.

    In standalone mode click prints usage errors and typer turns Ctrl-C inside a command into
    exit 130 without a word; both end as `SystemExit`, let through here (130 with a word).
    """
    try:
        app()
    except SystemExit as exc:
        if exc.code == 130:
            sys.stderr.write("interrupted\n")
        raise
    except KeyboardInterrupt:  # outside a command (typer converts the ones inside)
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    except BaseException as exc:  # noqa: BLE001 - the last handler: report it, exit 1
        _report_bug(exc)
        raise SystemExit(1) from None


def _report_bug(exc: BaseException) -> None:
    """`error: <Type>: <message>`, that it is a bug, and the traceback when asked for."""
    debug = os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")
    message = printable(exc).strip() or "(no message)"
    sys.stderr.write(f"error: {type(exc).__name__}: {message}\n")
    if debug:
        sys.stderr.write("This is a bug in comp-llm (an error it does not handle); please report "
                         "it with this traceback:\n" + "".join(traceback.format_exception(exc)))
    else:
        sys.stderr.write(f"This is a bug in comp-llm (an error it does not handle); rerun with "
                         f"{DEBUG_ENV}=1 to see its traceback, and please report it.\n")
