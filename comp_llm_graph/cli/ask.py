"""`comp-llm ask`: answer one question and show the plan, the sub-answers and the final answer."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer

from comp_llm_graph.cli.options import (
    Aggregate,
    ApiKeyEnv,
    CacheDir,
    ExpertFolders,
    MaxSubqueries,
    Planner,
    PlannerModel,
    PlannerUrl,
    Profile,
    Router,
    build_components,
)
from comp_llm_graph.cli.render import (
    err,
    fail,
    json_text,
    plain,
    print_final,
    print_human,
    result_document,
)
from comp_llm_graph.context import MODES, SCHEDULES, Context
from comp_llm_graph.errors import (
    MAX_QUERY_CHARS,
    CompLLMError,
    InvalidQueryError,
    validate_query,
)

CHECKPOINT_ENV = "COMP_LLM_CHECKPOINT"
"""Environment variable naming the default `--checkpoint`."""


STDIN_LIMIT = 1 << 20
"""Most bytes read from standard input: far above any query accepted, and an endless input
(`< /dev/zero`) is refused instead of filling the memory."""


def read_query(query: str) -> str:
    """QUERY validated, read from standard input when it is '-'."""
    if query == "-":
        raw = getattr(sys.stdin, "buffer", None)  # None: a text stream put in its place
        data = raw.read(STDIN_LIMIT + 1) if raw is not None else sys.stdin.read(STDIN_LIMIT + 1)
        if len(data) > STDIN_LIMIT:
            raise InvalidQueryError(
                f"standard input holds more than {STDIN_LIMIT} bytes; a query has at most "
                f"{MAX_QUERY_CHARS} characters. Pass one question.")
        query = decode_stdin(data) if isinstance(data, bytes) else data
    return validate_query(query)


def decode_stdin(data: bytes) -> str:
    """Standard input as text: strict UTF-8 (a UTF-8 byte-order mark is dropped).

    Strict, because the replacement characters of a lenient decoding would reach the planner
    and the experts as part of the question; a UTF-16 file is named as such rather than guessed.

    Raises:
        InvalidQueryError: the bytes are not UTF-8, naming the first bad byte and its position.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidQueryError(
            f"standard input is not UTF-8 text: it starts with the UTF-16 byte-order mark "
            f"0x{data[0]:02x} 0x{data[1]:02x}; convert it to UTF-8 first, e.g. "
            "iconv -f UTF-16 -t UTF-8 FILE | comp-llm ask -")
    try:
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        raise InvalidQueryError(
            f"standard input is not UTF-8 text: byte 0x{data[offset]:02x} at position {offset}; "
            "pass the question as UTF-8 (e.g. convert it with iconv -f LATIN1 -t UTF-8).") from exc


def ask(
    query: Annotated[str | None, typer.Argument(
        help="The question; '-' reads it from standard input (none with --resume).")] = None,
    mode: Annotated[str, typer.Option(help=f"One of: {', '.join(MODES)}.")] = "comp",
    experts: ExpertFolders = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    max_subqueries: MaxSubqueries = 5,
    aggregate: Aggregate = "auto",
    schedule: Annotated[
        str, typer.Option(help=f"One of: {', '.join(SCHEDULES)} (start as ready, or in rounds).")
    ] = "ready",
    max_concurrency: Annotated[
        int | None, typer.Option(help="Most sub-queries running at once (default: no limit).")
    ] = None,
    batch_size: Annotated[
        int, typer.Option(help="Most concurrent calls on one local model per batch (1: none).")
    ] = 8,
    memory_budget: Annotated[
        str | None, typer.Option(help="Memory for resident local models, e.g. 2GiB.")
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads per local model (default: the CPU count).")
    ] = None,
    stream: Annotated[bool, typer.Option(
        "--stream", help="Show the plan, each sub-answer and the final answer as they come.")
    ] = False,
    review_plan: Annotated[bool, typer.Option(
        "--review-plan", help="Show the plan and ask before running it: run, edit it in "
                              "$EDITOR (JSON), or stop.")
    ] = False,
    draw: Annotated[Path | None, typer.Option(
        help="Draw the plan: an image here (.png, .svg, .pdf...; matplotlib) and its Mermaid "
             "text beside it (.mmd), or only the Mermaid text for a .mmd path.")
    ] = None,
    checkpoint: Annotated[str | None, typer.Option(
        help="Keep the run's state here: memory, sqlite:///PATH or postgresql://... "
             f"(default: ${CHECKPOINT_ENV}, else none).", envvar=CHECKPOINT_ENV)] = None,
    thread: Annotated[str | None, typer.Option(
        help="The conversation to continue (needs --checkpoint; default: a new one).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Finish the thread's interrupted run (no QUERY): sub-queries it had "
                         "finished are not run again.")] = False,
    cache_dir: CacheDir = None,
    router: Router = "auto",
    planner: Planner = None,
    profile: Profile = None,
    planner_url: PlannerUrl = None,
    planner_model: PlannerModel = None,
    api_key_env: ApiKeyEnv = None,
) -> None:
    """Answer QUERY: print the plan, each sub-answer with its time, and the final answer."""
    try:
        _check_options(query, stream, as_json, review_plan, checkpoint, thread, resume)
        if draw is not None:
            _check_draw(draw)
        text = None if resume else read_query(query or "")
        context = Context(mode=mode, max_subqueries=max_subqueries,  # type: ignore[arg-type]
                          aggregate=aggregate, schedule=schedule,  # type: ignore[arg-type]
                          max_concurrency=max_concurrency, review_plan=review_plan)
        from comp_llm_graph.runtimes.pool import configure

        configure(memory_budget=memory_budget, max_batch_size=batch_size, threads=threads)
        components = build_components(experts, cache_dir, router, planner_url, planner_model,
                                      api_key_env, planner, profile=profile)
        started = time.time()
        how = "review" if review_plan else "stream" if stream else "quiet" if as_json else ""
        run = asyncio.run(_answer(components, text, context, checkpoint, thread, how))
    except (CompLLMError, ValueError) as exc:
        fail(exc)
    state, streamed = run.state, run.streamed
    doc = result_document(state)
    doc["timings"]["wall"] = round(time.time() - started, 4)
    if thread or checkpoint:
        doc["thread_id"] = run.thread_id
    if as_json:
        print(json_text(doc, indent=2))
    elif stream:  # the final answer is shown again when it is not what was streamed
        print_final(doc, answer=streamed.strip() != doc["final_answer"].strip())
    else:
        print_human(doc)
    if checkpoint and not as_json:
        err.print(plain(f"thread: {run.thread_id} (continue with --thread)", "dim"))
    if draw is not None:  # after the answer: a drawing that fails must not cost it
        _draw(state, draw)


def _draw(state: dict[str, Any], path: Path) -> None:
    from comp_llm_graph.drawing import draw_plan, plan_mermaid

    mermaid_only = path.suffix.lower() == ".mmd"
    try:
        path.with_suffix(".mmd").write_text(plan_mermaid(state))
        if not mermaid_only:
            draw_plan(state, path)
    except (OSError, ValueError, RuntimeError) as exc:  # matplotlib: ValueError, RuntimeError
        fail(CompLLMError(f"the answer is above; the drawing could not be written to {path}: "
                          f"{exc}"))
    drawn = path if mermaid_only else f"{path} and {path.with_suffix('.mmd')}"
    err.print(plain(f"plan drawn: {drawn}", "dim"))


def _check_draw(path: Path) -> None:
    """Refuse a --draw path matplotlib cannot write before the run, not after it."""
    from comp_llm_graph.drawing import image_formats

    formats = image_formats()
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in [*formats, "mmd"]:
        raise CompLLMError(f"--draw writes an image ({', '.join(formats)}) with its Mermaid text "
                           f"beside it, or the Mermaid text alone (.mmd); got {str(path)!r}. "
                           "Give e.g. plan.png.")
    if not path.parent.is_dir():
        raise CompLLMError(f"--draw: the folder {str(path.parent)!r} does not exist.")


def _check_options(query: str | None, stream: bool, as_json: bool, review_plan: bool,
                   checkpoint: str | None, thread: str | None, resume: bool) -> None:
    if stream and as_json:
        raise CompLLMError("--stream shows the answer as it comes; --json prints one "
                           "document at the end: use one of them.")
    if review_plan and (stream or query == "-"):
        raise CompLLMError("--review-plan asks on the terminal: give the query as an "
                           "argument, without --stream.")
    if (thread or resume) and not checkpoint:
        raise CompLLMError("--thread and --resume need --checkpoint (where the thread is kept), "
                           "e.g. --checkpoint sqlite:///runs.db.")
    if resume and (query is not None or not thread):
        raise CompLLMError("--resume finishes the interrupted run of --thread ID: give the "
                           "thread and no QUERY.")
    if query is None and not resume:
        raise CompLLMError("give the question as QUERY (or '-' to read it from standard input).")


class _Run(NamedTuple):
    """What a run of `ask` gives the printer: the final state, its thread, the streamed text."""

    state: dict[str, Any]
    thread_id: str
    streamed: str = ""


async def _answer(components: dict[str, Any], text: str | None, context: Context,
                  checkpoint: str | None, thread: str | None, how: str) -> _Run:
    """Run the graph once (or resume the thread's run), shown as `how` asks.

    A thread of a SQLite checkpoint is held for the run (`comp_llm_graph.threads`).
    """
    if checkpoint is None and how == "review":
        checkpoint = "memory"  # an interrupt needs a checkpointer
    lease = contextlib.nullcontext()
    if thread and checkpoint and checkpoint.startswith("sqlite:///"):
        from comp_llm_graph.threads import file_lease

        lease = file_lease(checkpoint.removeprefix("sqlite:///"), thread)
    with lease:
        return await _run(components, text, context, checkpoint, thread, how)


async def _run(components: dict[str, Any], text: str | None, context: Context,
               checkpoint: str | None, thread: str | None, how: str) -> _Run:
    from comp_llm_graph.checkpoints import open_checkpointer
    from comp_llm_graph.graph import build_graph

    async with open_checkpointer(checkpoint) if checkpoint else contextlib.nullcontext() as saver:
        graph = build_graph(**components, baselines=context.mode == "react", checkpointer=saver)
        config = {"configurable": {"thread_id": thread or uuid.uuid4().hex}}
        if text is None:
            snapshot = await graph.aget_state(config)
            if not snapshot.next:
                raise CompLLMError(f"thread {thread} has no unfinished run to resume.")
            waiting = any(task.interrupts for task in snapshot.tasks)
            if waiting and how != "review":
                raise CompLLMError(f"thread {thread} is waiting for its plan to be reviewed: "
                                   "resume it with --resume --review-plan.")
        inputs = None if text is None else {"query": text}
        streamed = ""
        if how == "review":
            from comp_llm_graph.cli.plan_review import reviewed_run

            state = await reviewed_run(graph, inputs, context, config)
        elif how == "stream":
            from comp_llm_graph.cli.live import stream_answer

            state, streamed = await stream_answer(graph, inputs, context, config)
        elif how == "quiet":  # --json: nothing but the document
            state = await graph.ainvoke(inputs, config, context=context)
        else:
            from comp_llm_graph.cli.live import answer_with_progress

            state = await answer_with_progress(graph, inputs, context, config)
    return _Run(state, config["configurable"]["thread_id"], streamed)
