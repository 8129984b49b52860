"""The graph's shape, as LangGraph draws it (a snapshot of `draw_mermaid()`)."""

from __future__ import annotations

import os
from pathlib import Path

from comp_llm_graph import build_graph
from tests.fakes import fake_registry, planner

SNAPSHOT = Path(__file__).parents[1] / "snapshots" / "graph.mmd"


def test_mermaid_drawing_matches_the_snapshot():
    """Nodes and edges are exactly the recorded ones; a change to the wiring shows up here.

    After an intended change, regenerate with `UPDATE_SNAPSHOTS=1 pytest tests/unit/test_graph_shape.py`
    and review the diff of `tests/snapshots/graph.mmd`.
    """
    graph = build_graph(planner=planner("{}"), registry=fake_registry(), aggregator=planner("x"))
    drawing = graph.get_graph().draw_mermaid()
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(drawing)
    assert drawing == SNAPSHOT.read_text()
