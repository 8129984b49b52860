"""Accuracy against latency per mode, from `comp-llm eval multiexpert --json` files.

    python benchmarks/multiexpert_plot.py docs/multiexpert_quality.json [more.json ...] \
        --out docs/multiexpert.png

One panel per set (P, D, All); a point per mode and file, labelled with the mode and, for the
graph modes, the file's configuration (planner / expert model), sized by total parameters.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen


def _label(mode: str, document: dict) -> str:
    if mode.startswith("monolithic:"):
        return "whole to " + mode.removeprefix("monolithic:").removeprefix("qwen2.5-coder-")
    model = (document.get("expert_model") or "").removeprefix("qwen2.5-coder-")
    return f"{mode} ({document.get('profile') or ('all ' + model if model else 'pack')})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/multiexpert.png"))
    parser.add_argument("--metric", default="part_accuracy")
    args = parser.parse_args()
    documents = [json.loads(path.read_text(encoding="utf-8")) for path in args.files]
    names = ("P", "D", "All")
    figure, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4.2), sharey=True)
    seen: set[tuple[str, str]] = set()
    for axis, name in zip(axes, names, strict=True):
        for document in documents:
            for mode, row in document["sets"][name]["modes"].items():
                label = _label(mode, document)
                if (name, label) in seen:
                    continue
                seen.add((name, label))
                axis.scatter(row["mean_s"], row[args.metric], s=40 + 60 * row["total_params_b"])
                axis.annotate(label, (row["mean_s"], row[args.metric]), fontsize=7,
                              xytext=(4, 4), textcoords="offset points")
        axis.set_title(f"{name} ({documents[0]['sets'][name]['n']} questions)")
        axis.set_xlabel("mean seconds per question (2 CPU cores)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel(args.metric.replace("_", " "))
    figure.tight_layout()
    figure.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
