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
