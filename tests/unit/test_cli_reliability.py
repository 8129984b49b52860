"""Bad input at the CLI: a clear error (exit 2) or a result, never a traceback or a lost answer.

Rich markup and terminal controls in model text, bad UTF-8 on standard input, malformed cards,
a bad `--cache-dir`, a bad `--planner-url`, an over-long line in `route --file`, and the safety
net of `main` for the errors nobody expected. The corrupt routing index is in
`test_corrupt_index.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from comp_llm_graph.cli import app
from comp_llm_graph.cli.render import printable
from comp_llm_graph.errors import CompLLMError, ExpertCardError, InvalidQueryError, validate_query
from comp_llm_graph.experts import DEFAULT_PACK, ExpertRegistry, load_card
from tests.fakes import CARDS, KeywordEmbeddings

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
NASTY = "[bold]Lima[/] [/b] \x1b[31mred\x1b[0m\x07 \x1b]0;title\x07\x9b2J\rback\x08"
"""Model text with rich markup (an unmatched closing tag) and terminal controls."""


def _fake_pipeline(monkeypatch, answer: str = NASTY, final: str = NASTY) -> list[str]:
    """`ask` on fakes: a two-question plan (one with markup), experts answering `answer`."""
    from langchain_core.runnables import RunnableLambda

    from comp_llm_graph.cli import ask as ask_command
    from tests.fakes import fake_registry, planner

    asked: list[str] = []
    plan = json.dumps({"subqueries": [
        {"id": "q1", "question": "What is [/b] the capital of Peru?", "depends_on": []},
        {"id": "q2", "question": "What is 3 plus 4?", "depends_on": ["q1"]}]})
    experts = {name: RunnableLambda(lambda p: asked.append(p["question"]) or answer)
               for name in ("geography", "math", "history", "generalist")}
    monkeypatch.setattr(ask_command, "build_components", lambda *a, **k: {
        "planner": planner(plan), "registry": fake_registry(experts),
        "aggregator": planner(final)})
    return asked


def _no_controls(text: str) -> None:
    assert not set(text) & {"\x1b", "\x07", "\x9b", "\r", "\x08"}, repr(text)


# -- 1. markup and terminal controls ------------------------------------------------------------


@pytest.mark.parametrize("mode", [[], ["--stream"]])
def test_markup_and_escape_sequences_in_model_text_are_shown_literally(monkeypatch, mode):
    _fake_pipeline(monkeypatch)
    result = runner.invoke(app, ["ask", *mode, "--aggregate", "llm", "What is [/b] Peru?"])
    assert result.exit_code == 0, result.output
    assert "[bold]Lima[/] [/b]" in result.output  # as written, the question's too
    assert result.output.count("[/b]") >= 3
    _no_controls(result.output)
    assert "red" in result.output and "title" not in result.output  # OSC dropped whole


def test_json_output_keeps_the_text_escaped(monkeypatch):
    _fake_pipeline(monkeypatch)
    result = runner.invoke(app, ["ask", "--json", "--aggregate", "llm", "What is [/b] Peru?"])
    assert result.exit_code == 0, result.output
    _no_controls(result.stdout)
    assert json.loads(result.stdout)["final_answer"] == NASTY.strip()


def test_the_progress_spinner_shows_ids_and_experts_literally(monkeypatch):
    import asyncio

    from rich.console import Console

    from comp_llm_graph.cli import live, render

    shown: list[str] = []

    class Graph:
        async def astream(self, *args, **kwargs):
            yield "custom", {"event": "plan", "plan": [{}]}
            yield "custom", {"event": "subquery_started", "id": "q[/b]1", "expert": "math"}
            yield "values", {"final_answer": "x"}

    console = Console(force_terminal=True, width=120)
    real_status = console.status

    def status(*args, **kwargs):
        handle = real_status(*args, **kwargs)
        update = handle.update
        handle.update = lambda text, **kw: (shown.append(str(text)), update(text, **kw))[1]
        return handle

    console.status = status
    monkeypatch.setattr(render, "err", console)
    state = asyncio.run(live.answer_with_progress(Graph(), {}, None, {}))
    assert state == {"final_answer": "x"}
    assert "Running q[/b]1 [math]" in shown


@pytest.mark.parametrize(("text", "shown"), [
    ("plain text\twith a tab\nand lines", "plain text\twith a tab\nand lines"),
    ("2+2?\x1b[31m\x07", "2+2?"),
    ("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),
    ("over\rwrite", "overwrite"),
    ("dos\r\nline", "dos\nline"),
    ("bell\x07 back\x08 nul\x00 del\x7f", "bell back nul del"),
    ("c1\x9b31m csi \x85nel", "c1 csi nel"),
    ("lone esc \x1b", "lone esc "),
    ("surrogate \udcff", "surrogate \ufffd"),
    ("[/b] stays", "[/b] stays"),
])
def test_printable_drops_what_a_terminal_would_act_on(text, shown):
    assert printable(text) == shown


# -- 2. bad UTF-8 on standard input, surrogates in an argument ---------------------------------


@pytest.mark.parametrize(("data", "message"), [
    (b"\xff\xfe what is water?", "standard input is not UTF-8 text"),
    (b"What is caf\xe9?", "byte 0xe9 at position 11"),
])
def test_standard_input_that_is_not_utf8_is_refused(monkeypatch, data, message):
    asked = _fake_pipeline(monkeypatch, answer="fine", final="fine")
    result = runner.invoke(app, ["ask", "-"], input=data)
    assert result.exit_code == 2, result.output
    assert message in result.output and asked == []


def test_a_utf8_byte_order_mark_is_dropped():
    from comp_llm_graph.cli.ask import decode_stdin

    assert decode_stdin("\ufeffWhat is 2+2?".encode()) == "What is 2+2?"


def test_a_query_with_a_lone_surrogate_is_not_valid_text(monkeypatch):
    with pytest.raises(InvalidQueryError, match="not valid text"):
        validate_query("What is \udcff water?")
    asked = _fake_pipeline(monkeypatch, answer="fine", final="fine")
    result = runner.invoke(app, ["ask", "What is \udcff water?"])
    assert result.exit_code == 2 and "not valid text" in result.output and asked == []


# -- 3. card files ------------------------------------------------------------------------------


def _card(folder: Path, extra: str) -> Path:
    """The default pack's physics card renamed, with `extra` lines (a later key wins)."""
    text = "\n".join(line for line in (DEFAULT_PACK / "physics.yaml").read_text().splitlines()
                     if not line.startswith("name:"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "x.yaml"
    path.write_text(f"name: physics2\n{text}\n{extra}\n")
    return path


@pytest.mark.parametrize(("extra", "named"), [
    ("1: one", ["key(s) 1 (int) are not field names", "the fields of a card: name"]),
    ("yes: 1", ["key(s) True (bool)"]),
    ("source: /etc/passwd", ["'source' is not a card field", "Remove it"]),
    ("max_concurrency: lots", ["max_concurrency:", "got 'lots' (str)"]),
    ("options: [1, 2]", ["options: Input should be a valid dictionary", "got [1, 2] (list)"]),
    ("options: {max_new_tokens: [1]}", ["max_new_tokens must be a whole number >= 1",
                                         "got [1] (list)"]),
    ("colour: red", ["colour: Extra inputs are not permitted", "the fields of a card"]),
])
def test_a_card_with_a_bad_key_or_field_type_names_the_file_and_the_field(tmp_path, extra,
                                                                          named):
    path = _card(tmp_path, extra)
    with pytest.raises(ExpertCardError) as info:
        load_card(path)
    assert str(path) in str(info.value)
    for part in named:
        assert part in str(info.value)


def test_a_sympy_card_with_a_fallback_that_is_not_a_name_is_a_card_error(tmp_path):
    path = _card(tmp_path, "backend: sympy\noptions: {fallback_backend: [1, 2]}")
    with pytest.raises(ExpertCardError, match=r"options.fallback_backend must be a backend name"):
        ExpertRegistry.from_folders([path.parent], embeddings=KeywordEmbeddings(),
                                    persist_directory=tmp_path / "index")


def test_ask_with_a_card_key_that_is_not_text_exits_2(tmp_path):
    _card(tmp_path / "cards", "1: one")
    result = runner.invoke(app, ["ask", "--experts", str(tmp_path / "cards"), "What is water?"])
    assert result.exit_code == 2, result.output
    assert "x.yaml: invalid expert card: key(s) 1 (int)" in result.output


# -- 4. a bad --cache-dir -----------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    ["route", "What is water?"], ["ask", "What is water?"], ["experts", "list"]])
@pytest.mark.parametrize(("where", "message"), [
    ("file", "is not a folder (it is a file)"),
    ("under-a-file", "cannot make --cache-dir"),
    ("/proc/comp-llm-no-such-place", "cannot make --cache-dir"),
])
def test_a_bad_cache_dir_is_named_before_anything_runs(tmp_path, command, where, message):
    (tmp_path / "file").write_text("not a folder")
    folder = {"file": tmp_path / "file", "under-a-file": tmp_path / "file" / "index"}.get(
        where, Path(where))
    result = runner.invoke(app, [*command, "--cache-dir", str(folder)])
    assert result.exit_code == 2, result.output
    assert message in result.output and str(folder) in result.output


def test_a_registry_on_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(CompLLMError, match="is not a folder"):
        ExpertRegistry(CARDS, embeddings=KeywordEmbeddings(),
                       persist_directory=tmp_path / "file").index_cards()


# -- 6. --planner-url, route --file -------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://x", "http://", "http://host:99999/v1", "localhost:8000"])
def test_a_planner_url_that_is_not_http_is_one_clear_line(url):
    result = runner.invoke(app, ["ask", "--planner-url", url, "--planner-model", "m", "hi"])
    assert result.exit_code == 2, result.output
    assert "--planner-url must be an http:// or https:// URL with a host" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_route_file_names_the_lines_over_the_limit(tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text("What is 2 plus 2?\n" + "x" * 4001 + "\nWho?\n" + "y" * 5000 + "\n")
    result = runner.invoke(app, ["route", "--file", str(questions)])
    assert result.exit_code == 2
    assert "line(s) 2, 4 have more than 4000 characters" in result.output


def test_route_file_that_is_empty_is_refused(tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text("")
    result = runner.invoke(app, ["route", "--file", str(questions)])
    assert result.exit_code == 2
    assert "q.txt is empty; write one question per line" in " ".join(result.output.split())


def test_cache_dir_also_takes_the_model_files(tmp_path):
    import os

    from comp_llm_graph.cli.options import _registry_options

    options = _registry_options(None, tmp_path / "cache")
    assert options["persist_directory"] == tmp_path / "cache"
    assert os.environ["COMP_LLM_MODEL_DIR"] == str(tmp_path / "cache" / "models")
    os.environ["COMP_LLM_MODEL_DIR"] = str(tmp_path / "mine")  # set by the user: kept
    _registry_options(None, tmp_path / "cache")
    assert os.environ["COMP_LLM_MODEL_DIR"] == str(tmp_path / "mine")

# -- 7. the safety net --------------------------------------------------------------------------


def _run_main(raising: str, **env: str) -> subprocess.CompletedProcess:
    """`comp-llm ask hi` in a new process, its `read_query` raising `raising`."""
    script = ("import sys\nfrom comp_llm_graph.cli import ask, main\n"
              f"def broken(query):\n    raise {raising}\n"
              "ask.read_query = broken\nsys.argv = ['comp-llm', 'ask', 'hi']\nmain()\n")
    import os

    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, **env})


def test_an_unexpected_error_is_one_line_and_a_hint_not_a_traceback():
    done = _run_main("ZeroDivisionError('division by zero')", COMP_LLM_DEBUG="")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("error: ZeroDivisionError: division by zero\n")
    assert "a bug in comp-llm" in done.stderr and "COMP_LLM_DEBUG=1" in done.stderr
    debug = _run_main("ZeroDivisionError('division by zero')", COMP_LLM_DEBUG="1")
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "broken" in debug.stderr


def test_ctrl_c_is_interrupted_with_status_130():
    done = _run_main("KeyboardInterrupt")
    assert done.returncode == 130
    assert done.stderr.strip() == "interrupted"


def test_route_file_without_line_breaks_is_refused_at_the_bound():
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = runner.invoke(app, ["route", "--file", "/dev/zero"])
    assert result.exit_code == 2
    assert "longer than route --file reads (64 MiB or 100,000 lines)" in result.output
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200, grown_mb


def test_route_file_names_long_lines_by_their_number_among_normal_ones(tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text("x" * 20_000 + "\nWho wrote Hamlet?\n\nWhat is 2 plus 2?\n")
    result = runner.invoke(app, ["route", "--file", str(questions)])
    assert result.exit_code == 2
    assert "line(s) 3 are blank" in result.output
