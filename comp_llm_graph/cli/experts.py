"""`comp-llm experts`: list the experts and fit the learned router."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from comp_llm_graph.cli.options import CacheDir, ExpertFolders, JsonOut, build_registry
from comp_llm_graph.cli.render import err, fail, out, plain, write_results
from comp_llm_graph.errors import CompLLMError

experts_app = typer.Typer(help="Inspect the experts and fit the router.", no_args_is_help=True)


@experts_app.command("list")
def experts_list(experts: ExpertFolders = None, cache_dir: CacheDir = None) -> None:
    """The experts: name, backend, card file, and which router is in use."""
    try:
        registry = build_registry(experts, cache_dir)
        table = Table(title=f"Experts (router: {registry.method})", title_justify="left")
        for column in ("name", "backend", "max concurrency", "card"):
            table.add_column(column, overflow="fold")
        for name in registry.names:
            card = registry.cards[name]
            table.add_row(plain(name + (" (fallback)" if name == registry.fallback else "")),
                          plain(card.backend), plain(card.max_concurrency or "-"),
                          plain(card.source or "-"))
    except (CompLLMError, ValueError) as exc:
        fail(exc)
    out.print(table)


@experts_app.command("fit")
def experts_fit(
    data: Annotated[
        Path, typer.Option(help="An MMLU folder (fits on dev+val), or a .csv/.jsonl file of "
                                "question, expert[, topic].")
    ],
    other_as: Annotated[str | None, typer.Option(
        help="MMLU only: label the 'other' group (global facts, miscellaneous, ...) with this "
             "expert, e.g. generalist, so thresholds learn when to fall back.")] = None,
    cards: Annotated[bool, typer.Option(
        help="Also train on the cards' descriptions and examples (everyday phrasings).")] = True,
    folds: Annotated[int, typer.Option(help="Folds of the out-of-fold accuracy.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the folds.")] = 0,
    json_path: JsonOut = None,
    experts: ExpertFolders = None,
    cache_dir: CacheDir = None,
) -> None:
    """Fit the learned router on labelled questions; print accuracy before and after.

    Never reads MMLU's test split: score the result with `comp-llm eval routing --split test`.
    """
    from comp_llm_graph.evaluation.data import labelled_questions

    try:
        if other_as and not Path(data).is_dir():
            raise CompLLMError("--other-as applies to an MMLU folder only; in a file, label "
                               "those questions with the fallback expert yourself.")
        rows = labelled_questions(data, splits=["dev", "val"], other=other_as)
        registry = build_registry(experts, cache_dir)
        with err.status("fitting", spinner="dots") as status:
            report = registry.fit(rows, folds=folds, seed=seed, trained_on=str(data), cards=cards,
                                  progress=lambda stage: status.update(plain(f"fitting: {stage}")))
    except (CompLLMError, ValueError) as exc:
        fail(exc)
    table = Table(title=f"Router fitted on {report.rows} questions ({report.topics} topics) "
                        f"in {report.seconds:.0f} s", title_justify="left")
    table.add_column("")
    table.add_column("top-1")
    table.add_column("top-3")
    table.add_row("before (similarity to the cards, on these questions)",
                  f"{report.before:.3f}", "")
    table.add_row(f"after (learned, {report.folds}-fold out-of-fold)", f"{report.after:.3f}",
                  f"{report.after_top3:.3f}")
    out.print(table)
    raised = {e: t for e, t in report.thresholds.items() if t > 0}
    listed = (", ".join(f"{e} {t:.3f}" for e, t in raised.items())
              or "all 0 (no question labelled with the fallback)")
    out.print(plain(f"thresholds (below: fallback to {registry.fallback}): {listed}"))
    weakest = sorted(report.per_expert.items(), key=lambda item: item[1])[:3]
    out.print(plain("weakest recall: " + ", ".join(f"{e} {r:.3f}" for e, r in weakest)))
    out.print(plain(f"saved in {registry.router_folder}; `comp-llm route` and `ask` use it", "dim"))
    write_results({"fit": report.__dict__}, "", json_path, None)
