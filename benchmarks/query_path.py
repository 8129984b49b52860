"""Which of the package's modules one query passes through, from `comp-llm ask` to the answer.

Runs `comp-llm ask` in this process with a profiler that records every call into a function of
`comp_llm_graph` (all threads; not calls made while one of its modules is imported). Prints the
modules the run entered, from its first node to the answer, in the order first entered; how
many the whole command entered (building the graph included); and the moves between the rooms
`planning/`, `nodes/`, `runtimes/`, `experts/` and `answers/` along the calls (calls into the
package root are not moves; concurrent branches interleave). docs/design.md quotes its output.

    .venv/bin/python benchmarks/query_path.py [QUERY]
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import typer

PACKAGE = Path(__file__).resolve().parents[1] / "comp_llm_graph"
QUERY = "What is the capital of France? Also, what is 15% of 240?"


def _module(filename: str) -> str | None:
    path = Path(filename)
    if PACKAGE not in path.parents:
        return None
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def _importing(frame) -> bool:  # noqa: ANN001 - a frame
    """Whether the call is made while a module is being imported (its objects being built)."""
    while frame is not None:
        if frame.f_code.co_name == "<module>" and _module(frame.f_code.co_filename):
            return True
        frame = frame.f_back
    return False


def main(query: str = typer.Argument(QUERY)) -> None:
    """Answer `query` with the default components and print the modules its path entered."""
    from comp_llm_graph.cli import app

    order: dict[str, None] = {}
    run: dict[str, None] = {}
    rooms: list[str] = []

    def profile(frame, event, arg):  # noqa: ANN001 - the profiler's signature
        if event != "call" or frame.f_code.co_name == "<module>":  # not an import
            return
        module = _module(frame.f_code.co_filename)
        if module is None or _importing(frame):
            return
        order.setdefault(module)
        if not run and frame.f_code.co_name != "generate_subqueries":
            return  # the run starts at its first node
        run.setdefault(module)
        room = module.split(".")[1] if module.count(".") > 1 else None
        if room is not None and (not rooms or rooms[-1] != room):
            rooms.append(room)

    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        app(["ask", query], standalone_mode=False)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    skip = ("comp_llm_graph.cli", "comp_llm_graph.quiet")
    path = [m for m in run if not m.startswith(skip)]
    print(f"\nthe run entered {len(path)} modules (the whole command "
          f"{len([m for m in order if not m.startswith(skip)])}, CLI modules not counted):")
    for module in path:
        print(f"  {module}")
    print("entered only while building: "
          + " ".join(m for m in order if m not in run and not m.startswith(skip)))
    print(f"moves between rooms during the run: {len(rooms) - 1}: {' > '.join(rooms)}")


if __name__ == "__main__":
    typer.run(main)
