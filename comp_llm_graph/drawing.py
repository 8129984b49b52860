"""The plan of a run as a picture: Mermaid text always, a PNG with matplotlib when asked.

Each node is a sub-query labelled with its id, expert and seconds (when it ran) and its
question; each edge is a dependency. `comp-llm ask --draw plan.png` writes both, and any state
(or `ask --json` document) with `plan` and `answers` can be drawn. matplotlib is imported only
for the PNG; graphviz is not needed (the layout is by depth: a sub-query sits one column after
its deepest dependency).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["draw_plan", "plan_depths", "plan_mermaid"]


def _seconds(answers: Mapping[str, Any], sub_id: str) -> str:
    answer = answers.get(sub_id) if isinstance(answers, Mapping) else None
    if not answer:
        return ""
    return f", {answer['finished_at'] - answer['started_at']:.2f} s"


def _answers(state: Mapping[str, Any]) -> dict[str, Any]:
    answers = state.get("answers") or {}
    if isinstance(answers, list):  # an `ask --json` document lists them
        return {a["id"]: {"started_at": a["start_s"], "finished_at": a["end_s"]} for a in answers}
    return dict(answers)


def plan_depths(plan: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Each sub-query's column: 0 without dependencies, else one after its deepest one."""
    depth: dict[str, int] = {}
    for sub in plan:  # a validated plan is in a topological order
        depth[sub["id"]] = 1 + max((depth.get(d, 0) for d in sub["depends_on"]), default=-1)
    return depth


def plan_mermaid(state: Mapping[str, Any]) -> str:
    """The plan as a Mermaid flowchart (left to right)."""
    answers = _answers(state)
    lines = ["flowchart LR"]
    for sub in state["plan"]:
        question = sub["question"].replace('"', "'")
        label = f"{sub['id']} [{sub['expert']}{_seconds(answers, sub['id'])}]<br/>{question}"
        lines.append(f'    {sub["id"]}["{label}"]')
    for sub in state["plan"]:
        lines += [f"    {dep} --> {sub['id']}" for dep in sub["depends_on"]]
    return "\n".join(lines) + "\n"


def image_formats() -> list[str]:
    """File suffixes `draw_plan` can write (matplotlib's: png, svg, pdf...)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    return sorted(FigureCanvasAgg.get_supported_filetypes())


def draw_plan(state: Mapping[str, Any], path: str | Path, title: str | None = None) -> Path:
    """The plan as an image in the suffix's format (PNG, SVG, PDF...).

    Boxes by depth from left to right, arrows for dependencies.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plan, answers = state["plan"], _answers(state)
    depth = plan_depths(plan)
    columns: dict[int, list[str]] = {}
    for sub in plan:
        columns.setdefault(depth[sub["id"]], []).append(sub["id"])
    rows = max(len(ids) for ids in columns.values())
    where = {sub_id: (col * 3.4, -row * 1.6) for col, ids in columns.items()
             for row, sub_id in enumerate(ids)}
    fig, ax = plt.subplots(figsize=(2.2 + 3.4 * len(columns), 1.0 + 1.6 * rows))
    for sub in plan:
        x, y = where[sub["id"]]
        text = (f"{sub['id']} [{sub['expert']}{_seconds(answers, sub['id'])}]\n"
                + textwrap.shorten(sub["question"], 60, placeholder="..."))
        ax.text(x, y, textwrap.fill(text, 30, replace_whitespace=False), ha="center",
                va="center", fontsize=8, bbox={"boxstyle": "round", "fc": "#f2f0ff"},
                parse_math=False)  # "$a_$" in a question is text, not mathtext
        for dep in sub["depends_on"]:
            ax.annotate("", xy=(x - 1.3, y), xytext=(where[dep][0] + 1.3, where[dep][1]),
                        arrowprops={"arrowstyle": "->", "color": "#555"})
    ax.set_xlim(-1.7, 3.4 * (len(columns) - 1) + 1.7)
    ax.set_ylim(-1.6 * (rows - 1) - 0.9, 0.9)
    ax.axis("off")
    ax.set_title(title or textwrap.shorten(str(state.get("query", "plan")), 90), fontsize=9,
                 parse_math=False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
