"""The routing index on a Chroma server (`chroma run` on 127.0.0.1), across a server restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from comp_llm_graph.cli import app
from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.evaluation.fleet import free_ports
from comp_llm_graph.experts import ExpertRegistry
from comp_llm_graph.experts.routing.chroma import CHROMA_URL_ENV, chroma_client
from tests.fakes import stop_server

pytestmark = pytest.mark.real


def _start(path: Path, port: int, log_path: Path) -> tuple[subprocess.Popen, object]:
    log = log_path.open("a")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(path),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2).is_success:
                return server, log
        except httpx.HTTPError:
            time.sleep(0.5)
    stop_server(server, log)
    pytest.fail(f"chroma run did not start:\n{log_path.read_text()[-2000:]}")


def test_the_index_lives_on_the_server_and_survives_a_restart(tmp_path):
    # `comp-llm --chroma-url` sets the variable for its process, here the test run's: the
    # suite's `_no_deployment_settings` fixture undoes it when the test ends.
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    server, log = _start(tmp_path / "chroma", port, tmp_path / "chroma.log")
    try:
        registry = ExpertRegistry.from_folders((), chroma_url=url,
                                               persist_directory=tmp_path / "cache")
        assert registry.index_cards() == {"embedded": len(registry.cards), "reused": 0}
        first = registry.route(["What is the derivative of x squared?"])[0]  # learned, in Chroma
        assert registry.router.store.url == url
        assert not (tmp_path / "cache" / "chroma.sqlite3").exists()  # nothing on disk here
    finally:
        stop_server(server, log)
    server, log = _start(tmp_path / "chroma", port, tmp_path / "chroma.log")
    try:
        again = ExpertRegistry.from_folders((), chroma_url=url,
                                            persist_directory=tmp_path / "cache")
        assert again.index_cards() == {"embedded": 0, "reused": len(again.cards)}  # not re-embedded
        second = again.route(["What is the derivative of x squared?"])[0]
        assert (second.expert, second.score) == (first.expert, first.score)
        result = CliRunner().invoke(app, ["--chroma-url", url, "route", "--json",
                                          "--cache-dir", str(tmp_path / "cache"),
                                          "What is the derivative of x squared?"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["expert"] == first.expert
    finally:
        stop_server(server, log)
    assert os.environ.get(CHROMA_URL_ENV) == url


def test_no_server_is_a_clear_error():
    with pytest.raises(CompLLMError, match="no Chroma server answers at http://127.0.0.1:"):
        chroma_client(f"http://127.0.0.1:{free_ports(1)[0]}")
    with pytest.raises(CompLLMError, match="must look like http://127.0.0.1:8000"):
        chroma_client("127.0.0.1:8000")
