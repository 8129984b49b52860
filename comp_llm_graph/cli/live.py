"""`comp-llm ask` as it runs: streamed output, or a spinner saying which step the run is at.

`--stream` prints the plan, each sub-answer and the final answer's tokens as they come.

The graph runs with LangGraph's `updates` stream (the plan when the sub-query generator is done,
each executor branch when it is) and `messages` stream (the aggregator's tokens as the engine
generates them).

Model text (tokens, sub-answers, plan ids and expert names in the spinner) is printed through
`render.plain`: literally, without terminal controls (see `render`).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from comp_llm_graph.cli.render import (
    StreamCleaner,
    out,
    plain,
    print_plan,
    printable,
    result_document,
)


async def stream_answer(graph: Any, inputs: dict[str, Any] | None, context: Any,
                        config: dict[str, Any] | None = None) -> tuple[dict[str, Any], str]:
    """Run the graph, printing as it goes; return the final state and what was streamed."""
    state: dict[str, Any] = {}
    streamed: list[str] = []
    cleaner = StreamCleaner()  # an escape sequence may be split over two tokens
    async for mode, payload in graph.astream(inputs, config, context=context,
                                             stream_mode=["updates", "messages", "values"]):
        if mode == "values":
            state = payload
        elif mode == "messages":
            chunk, metadata = payload
            if metadata.get("langgraph_node") == "aggregate" and chunk.content:
                if not streamed:
                    out.print(Text("Final answer:", style="bold"))
                streamed.append(chunk.content)
                out.print(Text(cleaner.feed(chunk.content)), end="")
        else:
            for node, update in payload.items():
                if node == "generate_subqueries" and update:
                    planned = {key: update[key] for key in ("query", "plan", "planning")}
                    print_plan(result_document({**planned, "answers": {}}))
                elif node == "execute_subquery" and update:
                    for answer in update["answers"].values():
                        line = plain(f"{answer['id']} [{answer['expert']}] "
                                     f"{answer['finished_at'] - answer['started_at']:.2f} s: ",
                                     "dim")
                        failed = answer["error"]
                        line.append(printable(f"error: {failed}" if failed else answer["answer"]),
                                    style="red" if failed else "")
                        out.print(line)
    if streamed:
        out.print(Text(cleaner.flush()))
    return state, "".join(streamed)


async def answer_with_progress(graph: Any, inputs: dict[str, Any] | None, context: Any,
                               config: dict[str, Any]) -> dict[str, Any]:
    """Run the graph under a spinner on stderr that says which step it is at (its events)."""
    from comp_llm_graph.cli.render import err

    state: dict[str, Any] = {}
    running: dict[str, str] = {}
    with err.status("Planning (models load on first use)...", spinner="dots") as status:
        async for mode, payload in graph.astream(inputs, config, context=context,
                                                 stream_mode=["custom", "values"]):
            if mode == "values":
                state = payload
                continue
            event = payload.get("event")
            if event == "subquery_started":
                running[payload["id"]] = payload["expert"]
            elif event == "subquery_finished":
                running.pop(payload["id"], None)
            elif event == "plan":
                status.update(plain(f"Planned {len(payload['plan'])} sub-queries; "
                                    "running them..."))
                continue
            if running:  # a plain str would be read as markup: "q1 [math]" is a style tag
                status.update(plain("Running " + ", ".join(f"{i} [{e}]"
                                                           for i, e in running.items())))
            elif event in ("subquery_finished", "aggregation"):
                status.update(plain("Writing the final answer..."))
    return state
