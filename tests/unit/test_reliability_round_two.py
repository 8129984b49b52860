"""Nothing lost, round two: unbounded cards, secrets in URLs, settings, drawings that fail."""

from __future__ import annotations

import base64
import json

import pytest
from typer.testing import CliRunner

from comp_llm_graph.cli import app
from comp_llm_graph.errors import ExpertCardError
from comp_llm_graph.experts import load_card
from comp_llm_graph.experts.card_yaml import MAX_CARD_BYTES
from comp_llm_graph.experts.routing.chroma import CHROMA_TOKEN_ENV, _auth_headers
from comp_llm_graph.runtimes.pool import DEFAULTS, threads_from_environment
from comp_llm_graph.urls import shown
from tests.unit.test_cli_reliability import _fake_pipeline

runner = CliRunner()
SECRET = "Hunter2Secret"


@pytest.fixture(autouse=True)
def _reset_model_settings():
    yield
    DEFAULTS.update(max_batch_size=8, threads=None)  # `ask` sets them process-wide


# -- unbounded cards ----------------------------------------------------------------------------


def _laughs(path, levels=9):
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    path.write_text("\n".join([*lines, "name: laughs", f"description: *a{levels}",
                               "backend: smollm2"]) + "\n")
    return path


def test_a_billion_laughs_card_is_refused_with_its_expanded_size(tmp_path):
    with pytest.raises(ExpertCardError, match=r"aliases expand to 8,335,593,972 values"):
        load_card(_laughs(tmp_path / "laughs.yaml"))


def test_a_few_aliases_are_still_a_card(tmp_path):
    card = tmp_path / "ok.yaml"
    card.write_text("name: rivers\ndescription: &d Answers questions about rivers.\n"
                    "examples: [*d, 'Which river is longest?']\nbackend: smollm2\n")
    assert load_card(card).examples[0] == "Answers questions about rivers."


def test_a_card_over_the_size_bound_is_refused_before_parsing(tmp_path):
    card = tmp_path / "big.yaml"
    card.write_text("name: big\ndescription: " + "x" * MAX_CARD_BYTES + "\n")
    with pytest.raises(ExpertCardError, match="larger than 256 KiB"):
        load_card(card)


def test_a_card_nested_too_deeply_is_refused(tmp_path):
    card = tmp_path / "deep.yaml"
    card.write_text("[" * 20_000 + "]" * 20_000)
    with pytest.raises(ExpertCardError, match="nested too deeply"):
        load_card(card)


# -- secrets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    (f"mysql://admin:{SECRET}@127.0.0.1:9/x", "mysql://admin:***@127.0.0.1:9/x"),
    (f"http://u:{SECRET}@h:x/", "http://u:***@h:x/"),          # a port that does not parse
    (f"postgresql://a:{SECRET}@[::1:5432/db", "postgresql://a:***@[::1:5432/db"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("http://user@host", "http://user@host"),
])
def test_a_url_is_shown_without_its_password(url, expected):
    assert shown(url) == expected


def test_a_checkpoint_url_error_does_not_echo_the_password():
    result = runner.invoke(app, ["ask", "--checkpoint", f"mysql://admin:{SECRET}@h:9/x", "hi"])
    assert result.exit_code == 2
    assert SECRET not in result.output and "admin:***@" in result.output


def test_a_chroma_url_error_does_not_echo_the_password(monkeypatch):
    monkeypatch.setenv("COMP_LLM_CHROMA_URL", f"http://u:{SECRET}@127.0.0.1:9")
    result = runner.invoke(app, ["route", "What is water?"])
    assert result.exit_code == 2
    assert SECRET not in result.output and "u:***@127.0.0.1:9" in result.output


def test_the_chroma_user_and_password_are_sent_as_basic_auth(monkeypatch):
    monkeypatch.delenv(CHROMA_TOKEN_ENV, raising=False)
    headers = _auth_headers(f"http://reader:{SECRET}@127.0.0.1:8000")
    assert headers == {"Authorization": "Basic "
                       + base64.b64encode(f"reader:{SECRET}".encode()).decode()}
    monkeypatch.setenv(CHROMA_TOKEN_ENV, "tok")
    assert _auth_headers("http://127.0.0.1:8000") == {"Authorization": "Bearer tok"}


def test_a_chroma_user_and_a_token_together_are_refused(monkeypatch):
    from comp_llm_graph.errors import CompLLMError

    monkeypatch.setenv(CHROMA_TOKEN_ENV, "tok")
    with pytest.raises(CompLLMError, match=r"u:\*\*\*@.*give one of them") as caught:
        _auth_headers(f"http://u:{SECRET}@127.0.0.1:8000")
    assert SECRET not in str(caught.value)


# -- settings checked where given ---------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5", "100000"])
def test_a_bad_threads_variable_is_named(monkeypatch, value):
    monkeypatch.setenv("COMP_LLM_THREADS", value)
    with pytest.raises(ValueError, match="COMP_LLM_THREADS must be a whole number from 1 to 512"):
        threads_from_environment()


def test_ask_refuses_a_bad_threads_variable_before_running(monkeypatch):
    monkeypatch.setenv("COMP_LLM_THREADS", "abc")
    result = runner.invoke(app, ["ask", "--mode", "monolithic", "What is water?"])
    assert result.exit_code == 2
    assert "COMP_LLM_THREADS" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--batch-size", "2000"], r"--batch-size\) must be a whole number from 1 to 64"),
    (["--threads", "0"], r"--threads\) must be a whole number from 1 to 512"),
])
def test_model_settings_out_of_range_are_refused(args, message):
    result = runner.invoke(app, ["ask", *args, "x"])
    assert result.exit_code == 2
    assert __import__("re").search(message, result.output)


@pytest.mark.parametrize("timeout", [".inf", ".nan", "0", "3600"])
def test_a_sympy_timeout_that_is_not_a_bounded_number_is_a_card_error(tmp_path, timeout):
    card = tmp_path / "m.yaml"
    card.write_text(f"name: m\ndescription: arithmetic\nexamples: ['What is 2+2?']\n"
                    f"backend: sympy\n"
                    f"options: {{sympy_timeout: {timeout}}}\n")
    from comp_llm_graph.experts import ExpertRegistry
    from tests.fakes import KeywordEmbeddings

    with pytest.raises(ExpertCardError, match="sympy_timeout must be a number of seconds"):
        ExpertRegistry.from_folders([tmp_path], embeddings=KeywordEmbeddings(),
                                    persist_directory=tmp_path / "index")


# -- a drawing that fails keeps the answer ------------------------------------------------------


def test_draw_to_mmd_writes_the_mermaid_text_after_the_answer(monkeypatch, tmp_path):
    _fake_pipeline(monkeypatch, answer="Lima", final="Lima")
    result = runner.invoke(app, ["ask", "--draw", str(tmp_path / "plan.mmd"), "Two things?"])
    assert result.exit_code == 0, result.output
    assert "Lima" in result.output
    assert (tmp_path / "plan.mmd").read_text().startswith("flowchart")


def test_draw_to_an_unknown_format_is_refused_before_the_run(monkeypatch, tmp_path):
    asked = _fake_pipeline(monkeypatch)
    result = runner.invoke(app, ["ask", "--draw", str(tmp_path / "plan.foo"), "Two things?"])
    assert result.exit_code == 2
    assert "--draw writes an image" in result.output and asked == []


def test_a_question_with_dollar_signs_is_drawn_as_text(monkeypatch, tmp_path):
    _fake_pipeline(monkeypatch, answer="Yes", final="Yes")
    from comp_llm_graph.drawing import draw_plan

    state = {"query": "Is $a_$ a variable name?", "plan": [
        {"id": "q1", "question": "Is $a_$ a variable name?", "depends_on": [], "expert": "x"}],
        "answers": {}}
    assert draw_plan(state, tmp_path / "m.png").stat().st_size > 0


def test_a_drawing_that_fails_after_the_run_keeps_the_answer(monkeypatch, tmp_path):
    _fake_pipeline(monkeypatch, answer="Lima", final="Lima")
    import comp_llm_graph.drawing as drawing

    def broken(*_args, **_kwargs):
        raise ValueError("cannot render")

    monkeypatch.setattr(drawing, "draw_plan", broken)
    result = runner.invoke(app, ["ask", "--json", "--draw", str(tmp_path / "p.png"), "Two?"])
    assert result.exit_code == 2
    assert json.loads(result.stdout[:result.stdout.rindex("}") + 1])["final_answer"] == "Lima"
    assert "the answer is above; the drawing could not be written" in result.output


# -- --cache-dir isolates the run ---------------------------------------------------------------


def test_the_demonstration_bank_lives_in_the_given_cache_folder(monkeypatch, tmp_path):
    import comp_llm_graph.defaults as defaults
    from comp_llm_graph.experts.registry import ExpertRegistry

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
    (tmp_path / "a-file").write_text("the default cache cannot be here")
    monkeypatch.setattr(ExpertRegistry, "from_folders", classmethod(lambda cls, *a, **k: None))
    monkeypatch.setattr(defaults, "embedded_planner", lambda *a, **k: None)
    components = defaults.default_components(persist_directory=tmp_path / "ok")
    assert components["demonstrations"]._store.persist_directory == tmp_path / "ok"
    assert len(components["demonstrations"]) == 0  # opened there: empty, and no error



# -- a reviewer's edit is taken whole or refused ------------------------------------------------


@pytest.mark.parametrize(("edit", "problem"), [
    ([{"id": f"q{i}", "question": f"Question {i}? " + "x" * 4_990} for i in range(1, 6)],
     "characters, more than 20,000 (MAX_PLAN_CHARS)"),
    ([{"id": "q1", "question": "What? " + "x" * 4_100}], "more than 4,000 characters"),
    ('{"subqueries": [{"id": "q1", "question": "A?"}, {"id": "q2", "question": "B?"}, {"id": "q3',
     "not complete JSON"),
])
async def test_an_edit_that_would_be_cut_is_refused_and_nothing_runs(edit, problem):
    from langgraph.types import Command

    from comp_llm_graph import Context
    from tests.unit.test_review import CONFIG, TWO, _graph

    asked: list[str] = []
    graph = _graph(TWO, asked)
    await graph.ainvoke({"query": "Capital of Peru, and 3 plus 4?"}, CONFIG,
                        context=Context(review_plan=True))
    again = await graph.ainvoke(Command(resume=edit), CONFIG, context=Context(review_plan=True))
    assert problem in again["__interrupt__"][0].value["problems"][0]
    assert asked == []


def test_resume_of_a_run_waiting_for_review_needs_review_plan(monkeypatch, tmp_path):
    _fake_pipeline(monkeypatch, answer="Lima", final="Lima")
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    stopped = runner.invoke(app, ["ask", "--review-plan", "--checkpoint", db, "--thread", "t1",
                                  "Two things?"], input="n\n")
    assert stopped.exit_code == 2 and "stopped at the plan review" in stopped.output
    resumed = runner.invoke(app, ["ask", "--checkpoint", db, "--thread", "t1", "--resume"])
    assert resumed.exit_code == 2
    assert "waiting for its plan to be reviewed" in resumed.output
    assert "--resume --review-plan" in resumed.output


# -- one run per thread -------------------------------------------------------------------------


async def test_a_second_run_on_a_busy_thread_is_refused_and_history_is_kept():
    import asyncio

    from langchain_core.runnables import RunnableLambda
    from langgraph.checkpoint.memory import InMemorySaver

    from comp_llm_graph import build_graph
    from comp_llm_graph.errors import ThreadBusyError
    from tests.fakes import fake_registry, planner

    async def slow(payload):
        await asyncio.sleep(0.3)
        return "Lima"

    experts = {name: RunnableLambda(slow) for name in ("geography", "math", "history",
                                                       "generalist")}
    graph = build_graph(planner=planner('{"subqueries": [{"id": "q1", "question": "Peru?"}]}'),
                        registry=fake_registry(experts), aggregator=planner("FINAL"),
                        checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "shared"}}
    turns = [graph.ainvoke({"messages": [("user", f"Question {i}?")]}, config)
             for i in range(4)]
    results = await asyncio.gather(*turns, return_exceptions=True)
    refused = [r for r in results if isinstance(r, ThreadBusyError)]
    finished = [r for r in results if isinstance(r, dict)]
    assert len(finished) == 1 and len(refused) == 3
    assert "thread shared already has a run in progress" in str(refused[0])
    # the thread is free again: a next turn runs and the history holds both turns, whole
    state = await graph.ainvoke({"messages": [("user", "One more?")]}, config)
    assert len(state["messages"]) == 4


def test_a_second_process_on_a_busy_sqlite_thread_is_refused(tmp_path):
    import subprocess
    import sys

    from comp_llm_graph.errors import ThreadBusyError
    from comp_llm_graph.threads import file_lease

    database = tmp_path / "runs.db"
    holder = ("import sys, time; from comp_llm_graph.threads import file_lease\n"
              f"with file_lease({str(database)!r}, 't1'):\n"
              "    print('held', flush=True); time.sleep(30)\n")
    process = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        with pytest.raises(ThreadBusyError, match="thread t1 already has a run in progress"):
            with file_lease(database, "t1"):
                pass
        with file_lease(database, "t2"):  # another thread of the same checkpoint is free
            pass
    finally:
        process.kill()
        process.wait()
    with file_lease(database, "t1"):  # the lock went with the process
        pass


# -- route --file reads a bounded amount --------------------------------------------------------


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
