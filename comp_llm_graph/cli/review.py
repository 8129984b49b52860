"""`comp-llm ask --review-plan`: show the plan, then run it, edit it in $EDITOR, or stop.

The graph pauses in its `review_plan` node (`interrupt`); this module answers the interrupt with
`Command(resume=...)`: `True` to run the plan, or the plan as edited (JSON, validated by the
graph; an edit it refuses comes back with its problems and is asked again).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import click
import typer
from langgraph.types import Command
from rich.text import Text

from comp_llm_graph.cli.render import err, print_plan
from comp_llm_graph.errors import CompLLMError

__all__ = ["reviewed_run"]

CHOICES = "Run this plan? [y]es, [e]dit, [n]o"


async def reviewed_run(graph: Any, query: str, context: Any) -> dict[str, Any]:
    """Run the graph (built with a checkpointer), asking on the terminal at each plan review.

    Raises:
        CompLLMError: the reviewer stopped the run (nothing ran), or closed the editor empty.
    """
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    state = await graph.ainvoke({"query": query}, config, context=context)
    while state.get("__interrupt__"):
        request = state["__interrupt__"][0].value
        for problem in request.get("problems", []):
            err.print(Text(f"The edited plan was not run: {problem}", style="red"))
        print_plan({"plan": request["plan"], "planning": {"status": "for review"}})
        answer = _ask(request["plan"])
        state = await graph.ainvoke(Command(resume=answer), config, context=context)
    return state


def _ask(plan: list[dict[str, Any]]) -> Any:
    choice = typer.prompt(CHOICES, default="y", err=True).strip().lower()
    if choice in ("y", "yes"):
        return True
    if choice in ("e", "edit"):
        shown = [{key: sub[key] for key in ("id", "question", "depends_on", "expert")}
                 for sub in plan]
        edited = click.edit(json.dumps(shown, indent=2, ensure_ascii=False) + "\n",
                            extension=".json")
        if edited is None:  # closed without saving: the plan as it was
            return True
        if not edited.strip():
            raise CompLLMError("the edited plan was empty; nothing was run.")
        return edited
    raise CompLLMError("stopped at the plan review; nothing was run.")
