"""`comp-llm ask --review-plan`: show the plan, then run it, edit it in $EDITOR, or stop.

The graph pauses in its `review_plan` node (`interrupt`); this module answers the interrupt with
`Command(resume=...)`: `True` to run the plan, or the plan as edited (JSON, validated by the
graph; an edit it refuses comes back with its problems and is asked again). An expert's own
`interrupt()` is asked as a question on the terminal; each pending interrupt is answered by id.
"""

from __future__ import annotations

import json
from typing import Any

import click
import typer
from langgraph.types import Command

from comp_llm_graph.cli.render import err, plain, print_plan, printable
from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.events import plan_view

__all__ = ["reviewed_run"]

CHOICES = "Run this plan? [y]es, [e]dit, [n]o"


async def reviewed_run(graph: Any, inputs: dict[str, Any] | None, context: Any,
                       config: dict[str, Any]) -> dict[str, Any]:
    """Run the graph (built with a checkpointer), asking on the terminal at each plan review.

    Raises:
        CompLLMError: the reviewer stopped the run (nothing ran), or closed the editor empty.
    """
    state = await graph.ainvoke(inputs, config, context=context)
    while state.get("__interrupt__"):
        answers = {pending.id: _answer(pending.value) for pending in state["__interrupt__"]}
        state = await graph.ainvoke(Command(resume=answers), config, context=context)
    return state


def _answer(request: Any) -> Any:
    """The reviewer's answer to one interrupt: a plan review, or an expert's own question."""
    if not (isinstance(request, dict) and request.get("kind") == "plan_review"):
        return typer.prompt(printable(f"The run asks: {request}"), err=True)
    for problem in request.get("problems", []):
        err.print(plain(f"The edited plan was not run: {problem}", "red"))
    print_plan({"plan": request["plan"], "planning": {"status": "for review"}})
    return _ask(request["plan"])


def _ask(plan: list[dict[str, Any]]) -> Any:
    choice = typer.prompt(CHOICES, default="y", err=True).strip().lower()
    if choice in ("y", "yes"):
        return True
    if choice in ("e", "edit"):
        edited = click.edit(json.dumps(plan_view(plan), indent=2, ensure_ascii=False) + "\n",
                            extension=".json")
        if edited is None:  # closed without saving: the plan as it was
            return True
        if not edited.strip():
            raise CompLLMError("the edited plan was empty; nothing was run.")
        return edited
    raise CompLLMError("stopped at the plan review; nothing was run.")
