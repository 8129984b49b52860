"""`comp-llm route`: which expert each question goes to, with the top candidates."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from comp_llm_graph.cli.ask import read_query
from comp_llm_graph.cli.options import CacheDir, ExpertFolders, Router, build_registry
from comp_llm_graph.cli.render import fail, json_text, out, print_route, route_document
from comp_llm_graph.errors import (
    MAX_QUERY_CHARS,
    CompLLMError,
    InvalidQueryError,
    validate_query,
)

ROUTE_BATCH = 256
"""Questions embedded and routed per batch by `route --file`."""
MAX_FILE_LINES = 100_000
"""Most questions `route --file` reads."""
MAX_FILE_BYTES = 64 * 1024 * 1024
"""Most bytes `route --file` reads (a file of `MAX_FILE_LINES` questions is far less)."""
_LINE_BYTES = MAX_QUERY_CHARS * 4 + 2  # a longest question in UTF-8, and its line break


def _read_lines(file: Path) -> tuple[list[tuple[int, str]], list[int]]:
    """The file's lines with their numbers, and the numbers of those too long for a question.

    Read a line at a time, each read bounded, so a file with no line breaks (`/dev/zero`) or a
    300 MB line costs `_LINE_BYTES` of memory, not its size; the file's bytes and lines are
    bounded too (`MAX_FILE_BYTES`, `MAX_FILE_LINES`, named in the error).
    """
    lines: list[tuple[int, str]] = []
    long: list[int] = []
    total = 0
    try:
        with file.open("rb") as handle:
            while chunk := handle.readline(_LINE_BYTES):
                total += len(chunk)
                number = len(lines) + len(long) + 1
                if not chunk.endswith(b"\n") and len(chunk) == _LINE_BYTES:
                    long.append(number)  # skip the rest of the line, still bounded
                    while (rest := handle.readline(_LINE_BYTES)) and not rest.endswith(b"\n"):
                        total += len(rest)
                        _check_size(file, total, number)
                    total += len(rest)
                else:
                    line = chunk.decode("utf-8").rstrip("\r\n")
                    if len(line.strip()) > MAX_QUERY_CHARS:
                        long.append(number)
                    else:
                        lines.append((number, line))
                _check_size(file, total, number)
    except (OSError, UnicodeDecodeError) as exc:
        raise CompLLMError(f"cannot read {file}: {exc}") from exc
    return lines, long


def _check_size(file: Path, total: int, lines: int) -> None:
    if total > MAX_FILE_BYTES or lines > MAX_FILE_LINES:
        raise CompLLMError(
            f"{file} is longer than route --file reads ({MAX_FILE_BYTES // 2**20} MiB or "
            f"{MAX_FILE_LINES:,} lines); split it into several files.")


def route(
    question: Annotated[
        str | None, typer.Argument(help="A question to route ('-' reads it from standard input).")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Route every line of this file (one question each)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per question.")] = False,
    top_k: Annotated[int, typer.Option(help="Candidates shown per question.")] = 3,
    explain: Annotated[bool, typer.Option(
        help="Also show the nearest labelled questions (stored by `experts fit`).")] = False,
    experts: ExpertFolders = None,
    cache_dir: CacheDir = None,
    router: Router = "auto",
) -> None:
    """Show which expert a question goes to, with the top candidates and their scores."""
    try:
        if (question is None) == (file is None):
            raise CompLLMError("give either a QUESTION or --file QUESTIONS.txt (one per line).")
        if top_k < 1:
            raise CompLLMError(f"--top-k must be at least 1; got {top_k}.")
        if file is not None:
            lines, long = _read_lines(file)
            if not lines and not long:
                raise CompLLMError(f"{file} is empty; write one question per line.")
            blank = [number for number, line in lines if not line.strip()]
            if blank:
                raise CompLLMError(
                    f"{file}: line(s) {', '.join(map(str, blank[:10]))} are blank; every line must "
                    "be a question (remove the blank lines).")
            if long:
                raise CompLLMError(
                    f"{file}: line(s) {', '.join(map(str, long[:10]))} have more than "
                    f"{MAX_QUERY_CHARS} characters, the longest question accepted; shorten or "
                    "split them.")
            questions = [_question(file, number, line) for number, line in lines]
        else:
            questions = [read_query(question or "")]
        registry = build_registry(experts, cache_dir, router)
        for start in range(0, len(questions), ROUTE_BATCH):
            for decision in registry.route(questions[start:start + ROUTE_BATCH], top_k=top_k,
                                           explain=explain):
                if as_json:
                    print(json_text(route_document(decision, explain)))
                else:
                    print_route(decision)
                    if explain and not decision.examples:
                        out.print("     [dim](no labelled questions stored for these experts: "
                                  "run `comp-llm experts fit` to see them)[/dim]")
    except (CompLLMError, ValueError) as exc:
        fail(exc)
    sys.stdout.flush()


def _question(file: Path, number: int, line: str) -> str:
    """Line `number` of `file` as a question; an error names the line."""
    try:
        return validate_query(line)
    except InvalidQueryError as exc:
        raise CompLLMError(f"{file}: line {number}: {exc}") from exc
