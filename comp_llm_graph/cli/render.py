"""The output side of the CLI: consoles, errors, progress bars, result documents and tables.

Text that comes from a user or a model (questions, plans, answers, error messages, paths) is
printed literally: as `Text` objects, never as rich markup (a `[/b]` in an answer would stop the
print after the answer was computed), and through `printable` (an escape sequence in an answer
would otherwise drive the user's terminal). `--json` output needs neither: `json.dumps` escapes
control characters and does not know markup.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from comp_llm_graph.errors import CompLLMError

out = Console()
err = Console(stderr=True, soft_wrap=True)

_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erasing
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: window title, hyperlinks, clipboard
    r"|\x1b[PX^_][^\x1b]*\x1b\\"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?"  # any other escape (or a lone ESC)
    r"|\x9b[0-?]*[ -/]*[@-~]")  # CSI as one C1 character
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but \t and \n, DEL, C1
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # a non-UTF-8 byte of a file name or argv


def printable(text: object) -> str:
    """`text` without what a terminal would act on instead of showing.

    Drops escape sequences (ESC and 8-bit CSI), every C0 control character but tab and newline
    (so a lone CR, BEL or backspace too; CR LF becomes LF), DEL and the C1 controls. A lone
    surrogate, which no terminal encoding can write, becomes U+FFFD.
    """
    text = _SURROGATE.sub("\ufffd", str(text).replace("\r\n", "\n"))
    return _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))


_UNFINISHED = re.compile(
    r"(?:\x1b\[[0-?]*[ -/]*"  # CSI before its final byte
    r"|\x1b\][^\x07\x1b]*\x1b?"  # OSC before its terminator (or half of ESC \\)
    r"|\x1b[PX^_][^\x1b]*\x1b?"  # DCS, SOS, PM, APC likewise
    r"|\x1b[ -/]*"  # ESC and intermediates
    r"|\x9b[0-?]*[ -/]*"  # 8-bit CSI
    r"|\r)\Z")  # CR: the LF of a CR LF may come next
HELD_BACK_LIMIT = 256
"""Most characters of an unfinished escape sequence held back between streamed pieces."""


class StreamCleaner:
    """`printable` for text that comes in pieces (streamed tokens).

    A model's escape sequence can be split over two tokens; cleaning each alone would print the
    second half ("[31m") as text. An unfinished sequence at the end of a piece is held back
    until the next piece (or `flush`), up to `HELD_BACK_LIMIT` characters.
    """

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        """What of `piece` (after what was held back) can be shown now."""
        text = self._held + piece
        unfinished = _UNFINISHED.search(text)
        if unfinished and len(text) - unfinished.start() <= HELD_BACK_LIMIT:
            text, self._held = text[:unfinished.start()], text[unfinished.start():]
        else:
            self._held = ""
        return printable(text)

    def flush(self) -> str:
        """What is still held back, cleaned (the stream ended)."""
        text, self._held = self._held, ""
        return printable(text)


def plain(text: object, style: str = "") -> Text:
    """`text` to print as it is: printable, and never read as rich markup."""
    return Text(printable(text), style=style)


_DEL_AND_C1 = re.compile(r"[\x7f-\x9f]")


def json_text(document: Any, indent: int | None = None) -> str:
    """`document` as JSON for the terminal: non-ASCII text as it is, every control escaped.

    `json.dumps` escapes C0 controls, but with `ensure_ascii=False` not DEL and C1 (U+009B is
    a CSI to some terminals); those become `u00XX` escapes too, the same JSON value.
    """
    text = json.dumps(document, indent=indent, ensure_ascii=False)
    return _DEL_AND_C1.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def fail(exc: Exception) -> NoReturn:
    """Print `error: <exc>` on stderr and exit with status 2."""
    message = Text("error: ", style="red")
    message.append(printable(exc))
    err.print(message)
    raise typer.Exit(2)


def progress_bar() -> Any:
    """A progress bar on stderr: description, bar, done/total, elapsed time."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=err)


def write_results(document: dict[str, Any], table: str, json_path: Path | None,
                  markdown: Path | None, records: Path | None = None,
                  rows: list[Any] = ()) -> None:
    """Print TABLE; write DOCUMENT as JSON, TABLE as Markdown and ROWS as JSON lines if asked."""
    out.print(plain(table))
    try:
        if json_path:
            json_path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        if markdown:
            markdown.write_text(table)
        if records:
            records.write_text("".join(json.dumps(row, ensure_ascii=False, default=str) + "\n"
                                       for row in rows))
    except OSError as exc:
        fail(CompLLMError(f"cannot write the results: {exc}"))


def result_document(state: dict[str, Any]) -> dict[str, Any]:
    """The JSON document `ask --json` prints: plan, answers, final answer, timings."""
    started = state.get("run_started", 0.0)
    answers = state.get("answers") or {}
    return {
        "query": state["query"],
        "standalone_query": state.get("standalone_query", state["query"]),
        "mode": state.get("mode"),
        "plan": [
            {key: sub[key] for key in
             ("id", "question", "depends_on", "expert", "score", "routed_by", "candidates")}
            for sub in state.get("plan", [])
        ],
        "planning": state.get("planning"),
        "answers": {  # keyed by sub-query id, in plan order, as in the graph's state
            a["id"]: {
                "id": a["id"],
                "question": a["question"],
                "expert": a["expert"],
                "answer": a["answer"],
                "error": a["error"],
                "start_s": round(a["started_at"] - started, 4),
                "end_s": round(a["finished_at"] - started, 4),
                "seconds": round(a["finished_at"] - a["started_at"], 4),
                **({"output_tokens": a["output_tokens"]} if "output_tokens" in a else {}),
            }
            for a in (answers[sub["id"]] for sub in state.get("plan", []) if sub["id"] in answers)
        },
        "final_answer": state.get("final_answer", ""),
        "aggregation": state.get("aggregation"),
        "timings": state.get("timings", {}),
    }


def print_human(doc: dict[str, Any]) -> None:
    """`ask` without --json: the plan, the sub-answers and the final answer as tables."""
    print_plan(doc)
    answers = Table(title="Sub-answers", title_justify="left")
    for column in ("id", "expert", "start s", "time s", "answer"):
        answers.add_column(column, overflow="fold")
    for a in doc["answers"].values():
        text = plain(a["answer"]) if not a["error"] else plain(f"error: {a['error']}", "red")
        answers.add_row(plain(a["id"]), plain(a["expert"]), f"{a['start_s']:.2f}",
                        f"{a['seconds']:.2f}", text)
    out.print(answers)
    print_final(doc)


def print_plan(doc: dict[str, Any]) -> None:
    """The plan table, and every problem and repair the planner's attempts had."""
    planning = doc["planning"] or {}
    plan = Table(title=plain(f"Plan ({planning.get('status', '?')})"), title_justify="left")
    for column in ("id", "depends on", "expert", "score", "question"):
        plan.add_column(column, overflow="fold")
    for sub in doc["plan"]:
        routed = " (fallback)" if sub.get("routed_by") == "fallback" else ""
        plan.add_row(plain(sub["id"]), plain(", ".join(sub["depends_on"]) or "-"),
                     plain(f"{sub['expert']}{routed}"), f"{sub['score']:.3f}",
                     plain(sub["question"]))
    out.print(plan)
    for attempt in planning.get("attempts", []):
        for note in attempt["problems"] + attempt["repairs"]:
            out.print(Text.assemble(("  plan: ", "dim"), printable(note)))


def print_final(doc: dict[str, Any], *, answer: bool = True) -> None:
    """"Final answer" with how it was made, the answer (unless streamed), and the timings."""
    aggregation = doc["aggregation"] or {}
    note = ""
    if aggregation.get("reason"):
        note = f" ({aggregation['method']}: {aggregation['reason']})"
    if answer:
        out.print(Text.assemble(("Final answer", "bold"), printable(note) + ":"))
        out.print(plain(doc["final_answer"]))
    elif note:
        out.print(plain(note.strip(), "dim"))
    timings = doc["timings"]
    out.print(plain("  ".join(f"{k} {v:.2f}s" for k, v in timings.items()), "dim"))


def route_document(decision: Any, explain: bool) -> dict[str, Any]:
    """The JSON object `route --json` prints for one routing decision."""
    doc = {"question": decision.question, "expert": decision.expert,
           "router": decision.method, "fallback": decision.fallback,
           "candidates": [{"expert": e, "score": s} for e, s in decision.candidates]}
    if explain:
        doc["examples"] = [{"question": q, "expert": e, "similarity": s}
                           for q, e, s in decision.examples]
    return doc


def print_route(decision: Any) -> None:
    """`route` without --json: the candidates, the chosen expert and why."""
    out.print(plain(decision.question, "bold"))
    for rank, (expert, score) in enumerate(decision.candidates, start=1):
        out.print(plain(f"  {rank}. {expert:<20} {score:.3f}"))
    reason = (f"{decision.method}: best score below its threshold {decision.threshold:.2f}, "
              "fallback" if decision.fallback else f"{decision.method}: best score")
    out.print(Text("  -> ").append(plain(decision.expert, "bold")).append(f" ({reason})"))
    for question, expert, similarity in decision.examples:
        out.print(plain(f"     near: [{expert} {similarity:.2f}] {question[:100]}", "dim"))


def print_bench(results: dict[str, Any]) -> None:
    """The `bench` results, one table or line per part that ran."""
    if "scheduler" in results:
        s = results["scheduler"]
        table = Table(title=f"Scheduler suite: {s['n_dags']} random DAGs (seed {s['seed']}), "
                            f"median ideal speedup {s['median_ideal_speedup']:.2f}x",
                      title_justify="left")
        for column in ("schedule", "median makespan/critical path", "worst",
                       "median speedup over sequential"):
            table.add_column(column)
        for name in ("sequential", "waves", "start_as_ready"):
            row = s[name]
            table.add_row(name, f"{row['median_ratio_to_critical_path']:.3f}",
                          f"{row['worst_ratio_to_critical_path']:.3f}",
                          f"{row['median_speedup_over_sequential']:.2f}x")
        out.print(table)
    if "overhead" in results:
        o = results["overhead"]
        out.print(f"Overhead ({o['n_subqueries']} zero-latency sub-queries): "
                  f"{o['independent_ms_per_subquery']:.2f} ms/sub-query independent, "
                  f"{o['chain_ms_per_subquery']:.2f} ms/sub-query as a chain")
    if "batching" in results:
        b = results["batching"]
        out.print(f"Batching ({b['concurrent']} concurrent calls, one SmolLM2 on "
                  f"{b.get('engine', 'transformers')}): "
                  f"{b['batched_tokens_per_s']:.1f} tokens/s batched vs "
                  f"{b['one_by_one_tokens_per_s']:.1f} one by one = "
                  f"{b['throughput_ratio']:.2f}x; one stream "
                  f"{b.get('one_stream_tokens_per_s', 0):.1f} tokens/s")
    if "fleet" in results:
        print_fleet(results["fleet"])
    if "reliability" in results:
        print_reliability(results["reliability"])
    if "models" in results:
        table = Table(title="Default pack on SmolLM2", title_justify="left")
        for column in ("mode", "median wall s", "total wall s", "expert tokens/s"):
            table.add_column(column)
        for name, row in results["models"]["modes"].items():
            table.add_row(name, f"{row['median_wall_s']:.2f}", f"{row['total_wall_s']:.2f}",
                          f"{row['expert_tokens_per_s']:.1f}")
        out.print(table)
        ratios = results["models"].get("ratios", {})
        if ratios:
            out.print(f"comp (start as ready, batched) / sequential "
                      f"{ratios['comp_over_sequential']:.2f}, / monolithic "
                      f"{ratios['comp_over_monolithic']:.2f} (total wall time)")


def print_fleet(results: dict[str, Any]) -> None:
    """`bench fleet`: throughput and latency per replica count, and the unsaturated overhead."""
    table = Table(title=f"Expert fleet: {results['queries']} concurrent queries, "
                        f"{results['calls_per_query']} calls each, {results['per_token_ms']} "
                        f"ms/token, {results['slots_per_replica']} slot(s) per replica",
                  title_justify="left")
    for column in ("replicas", "queries/s", "p50 s", "p95 s", "makespan/critical path p50",
                   "p95", "errors"):
        table.add_column(column)
    rows = [(name, row) for name, row in results["replicas"].items()]
    rows.append(("4, one query at a time", results["unsaturated"]))
    for name, row in rows:
        table.add_row(name, f"{row['throughput_qps']:.2f}", f"{row['latency_p50_s']:.2f}",
                      f"{row['latency_p95_s']:.2f}",
                      f"{row['makespan_over_critical_path_p50']:.2f}",
                      f"{row['makespan_over_critical_path_p95']:.2f}", str(row["errors"]))
    out.print(table)
    if "throughput_ratio_4_vs_1" in results:
        out.print(f"throughput at 4 replicas / 1: {results['throughput_ratio_4_vs_1']:.2f}x")


def _table(title: str, columns: tuple[str, ...], rows: list[tuple]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    return table


def print_reliability(results: dict[str, Any]) -> None:
    """`bench reliability`: faults survived, bad input sorted, crashes resumed, load held."""
    out.print(_table("Faults injected (3-part plan, scripted models)",
                     ("fault", "runs", "survived"),
                     [(r["fault"], r["runs"], r["survived"]) for r in results["faults"]]))
    rows = [(name, r["tried"], r["refused"], r["accepted"], r["other"], f"{r['slowest_s']:.3f}")
            for name, r in results["bad_inputs"].items()]
    out.print(_table("Bad input", ("input", "tried", "refused, clear error", "accepted",
                                   "other exception", "slowest s"), rows))
    for name, r in results["bad_inputs"].items():
        for other in r["others"]:
            out.print(plain(f"  {name}: {other}", "red"))
    p = results["plans"]
    out.print(f"Random planner output: {p['tried']} tried, {p['valid_dags']} valid DAGs, "
              f"{p['plan_errors']} PlanError (re-plan, then one sub-query), other exceptions "
              f"{p['other_exceptions']}, slowest {p['slowest_s']:.3f} s")
    out.print(_table("Killed (SIGKILL) and resumed, 6 sub-queries on a SQLite checkpoint",
                     ("killed", "answers saved", "calls before kill", "calls on resume",
                      "saved ones re-run", "complete"),
                     [(r["killed"], r["saved_before_kill"], r["calls_before_kill"],
                       r["expert_calls_on_resume"], r["saved_run_again"],
                       "yes" if r["complete"] else "NO") for r in results["crash_resume"]]))
    load = results["load"]
    peak = max(load["peak_calls_per_card"].values())
    out.print(f"Concurrent load: {load['runs']} runs, {load['at_once']} at once, 10% of expert "
              f"calls failing, {load['seconds']} s: cross-talk {load['crosstalk']}, lost or "
              f"duplicated sub-queries {load['lost_or_duplicated']}, card limit "
              f"{load['card_limit']} peaked at {peak}, peak RSS {load['peak_rss_mb']} MB")
