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
        table = Table(title=f"Experts (router: {registry.router.method})", title_justify="left")
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
    out.print(plain(f"saved in {registry.router.folder}; `comp-llm route` and `ask` use it", "dim"))
    write_results({"fit": report.__dict__}, "", json_path, None)


@experts_app.command("profile")
def experts_profile(
    data: Annotated[Path, typer.Option(
        help="The data folder holding mmlu/ and gsm8k/ (MMLU test's profile half, GSM8K train).")],
    per_expert: Annotated[int, typer.Option(help="Questions per expert (random, seeded).")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the samples.")] = 0,
    models: Annotated[str, typer.Option(help="Comma-separated candidate catalogue models.")] = (
        "smollm2-135m,qwen2.5-coder-0.5b,qwen2.5-coder-1.5b"),
    margin: Annotated[float, typer.Option(
        help="Accuracy the chosen (smallest) model may lose against the best.")] = 0.02,
    budget_s: Annotated[float | None, typer.Option(
        help="Only candidates answering within this many seconds count (trades accuracy "
             "for time).")] = None,
    only: Annotated[str | None, typer.Option(
        help="Comma-separated experts to profile (default: all).")] = None,
    concurrency: Annotated[int, typer.Option(help="Questions answered at once.")] = 4,
    save: Annotated[bool, typer.Option(
        help="Save the profile beside the fitted routers; later runs use its choices.")] = True,
    check_half: Annotated[bool, typer.Option(
        "--check-half", help="Measure on MMLU test's other half, kept for checking a profile "
                             "(GSM8K test for program experts); never saved.")] = False,
    json_path: JsonOut = None,
    experts: ExpertFolders = None,
    cache_dir: CacheDir = None,
) -> None:
    """Measure each expert with each candidate model on its domain; give it the smallest good one.

    Each expert gets the smallest candidate within --margin of its best accuracy (a card's own
    `model:` still wins). Writes `<router key>.profile.json` beside the fitted routers.
    """
    import asyncio

    from rich.progress import Progress

    from comp_llm_graph.evaluation.profile import profile_experts, profile_markdown
    from comp_llm_graph.experts.profiles import save_profile

    try:
        if per_expert < 1 or concurrency < 1:
            raise CompLLMError("--per-expert and --concurrency must be at least 1")
        if not 0 <= margin <= 1:
            raise CompLLMError(f"--margin is an accuracy difference from 0 to 1; got {margin}")
        if budget_s is not None and budget_s <= 0:
            raise CompLLMError(f"--budget-s must be a number of seconds > 0; got {budget_s}")
        names = [m.strip() for m in models.split(",") if m.strip()]
        chosen_only = [e.strip() for e in only.split(",") if e.strip()] if only else None
        registry = build_registry(experts, cache_dir)
        with Progress(console=err) as bar:
            def progress(label: str, total: int):
                task = bar.add_task(label, total=total)
                return lambda: bar.advance(task)

            document = asyncio.run(profile_experts(
                registry, Path(data), names, per_expert=per_expert, seed=seed, margin=margin,
                budget_s=budget_s, only=chosen_only, concurrency=concurrency,
                progress=progress, half=not check_half))
        saved = save_profile(registry.router.folder, registry.router.key, document) \
            if save and not check_half else None
    except (CompLLMError, ValueError, OSError) as exc:
        fail(exc)
    write_results(document, profile_markdown(document), json_path, None)
    if saved:
        out.print(plain(f"saved in {saved}; cards without a model of their own use it", "dim"))
