"""URLs in errors (urls.py) never show a password; Chroma's user and password go as basic auth."""

from __future__ import annotations

import base64

import pytest
from typer.testing import CliRunner

from comp_llm_graph.cli import app
from comp_llm_graph.experts.routing.chroma import CHROMA_TOKEN_ENV, _auth_headers
from comp_llm_graph.urls import shown

runner = CliRunner()
SECRET = "Hunter2Secret"


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
