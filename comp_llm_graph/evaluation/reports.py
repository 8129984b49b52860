"""Drawn reports of evaluation runs: a run's timeline (Gantt chart), fleet throughput.

Kept apart from the measurements so that `matplotlib` is needed (and imported) only when a
picture is asked for; `comp_llm_graph.evaluation.bench` calls `plot_timeline` for its
`--timeline` PNG, and any state with `plan`, `answers` and `timings` can be drawn.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["plot_fleet", "plot_timeline"]


def plot_timeline(states: dict[str, dict], path: str | Path, title: str) -> Path:
    """A Gantt chart: one row per sub-query, one panel per run, bars coloured by expert."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(states)
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 1.2 + 0.35 * sum(
        len(s["plan"]) for s in states.values())), sharex=True, squeeze=False)
    experts = sorted({a["expert"] for s in states.values() for a in s["answers"].values()})
    colours = {e: plt.get_cmap("tab10")(i % 10) for i, e in enumerate(experts)}
    for ax, name in zip(axes[:, 0], names, strict=True):
        state = states[name]
        origin = min(a["started_at"] for a in state["answers"].values())
        ids = [s["id"] for s in state["plan"]]
        for row, sub_id in enumerate(ids):
            answer = state["answers"][sub_id]
            ax.barh(row, answer["finished_at"] - answer["started_at"],
                    left=answer["started_at"] - origin, color=colours[answer["expert"]])
        ax.set_yticks(range(len(ids)), ids)
        ax.invert_yaxis()
        ax.set_title(f"{name}: execute {state['timings']['execute']:.2f} s", loc="left",
                     fontsize="small")
    axes[-1, 0].set_xlabel("seconds since the first sub-query started")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[e]) for e in experts]
    fig.legend(handles, experts, loc="upper right", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_fleet(results: dict, path: str | Path) -> Path:
    """`bench fleet`: throughput and p95 latency against the number of replicas."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = sorted(results["replicas"], key=int)
    throughput = [results["replicas"][n]["throughput_qps"] for n in counts]
    p95 = [results["replicas"][n]["latency_p95_s"] for n in counts]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot([int(n) for n in counts], throughput, "o-", label="queries/s")
    ideal = [throughput[0] * int(n) / int(counts[0]) for n in counts]
    ax.plot([int(n) for n in counts], ideal, ":", color="grey", label="linear")
    ax.set_xlabel("replicas of the expert")
    ax.set_ylabel("queries/s")
    ax.set_xticks([int(n) for n in counts])
    right = ax.twinx()
    right.plot([int(n) for n in counts], p95, "s--", color="tab:red", label="p95 latency s")
    right.set_ylabel("p95 latency (s)")
    fig.legend(loc="upper center", fontsize="small", ncol=3)
    ax.set_title(f"{results['queries']} concurrent queries", fontsize="small", loc="left")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
