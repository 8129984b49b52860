"""An OpenAI-compatible server on 127.0.0.1 that misbehaves: drips its reply, or sends 20 MB.

The card's `options.timeout` holds for the whole call (not only between bytes), and an answer
past `MAX_ANSWER_CHARS` is cut with a note before it reaches the state, the checkpoint and the
dependants.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from comp_llm_graph import Context, build_graph
from comp_llm_graph.experts import ExpertRegistry
from comp_llm_graph.nodes.execute import MAX_ANSWER_CHARS
from tests.fakes import CARDS, KeywordEmbeddings, ephemeral_client, planner

pytestmark = pytest.mark.real
BIG = 20 * 1024 * 1024


def _completion(text: str) -> bytes:
    return json.dumps({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()


class _Handler(BaseHTTPRequestHandler):
    mode = "drip"

    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = _completion("x" * BIG if self.mode == "big" else "Lima")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.mode == "big":
            self.wfile.write(body)
            return
        for byte in body:  # one byte every 0.5 s: never idle long enough for a read timeout
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.5)


@pytest.fixture
def misbehaving():
    def start(mode: str) -> str:
        handler = type("Handler", (_Handler,), {"mode": mode})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    servers: list[ThreadingHTTPServer] = []
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _graph(url: str):
    options = {"base_url": url, "model": "m", "timeout": 2, "max_retries": 0}
    cards = [c.model_copy(update={"backend": "openai", "options": options}) for c in CARDS]
    registry = ExpertRegistry(cards, embeddings=KeywordEmbeddings(), client=ephemeral_client())
    plan = json.dumps({"subqueries": [
        {"id": "q1", "question": "What is the capital of Peru?", "depends_on": []}]})
    return build_graph(planner=planner(plan), registry=registry, aggregator=planner("FINAL"))


async def test_a_server_that_drips_its_reply_is_cut_off_at_the_cards_timeout(misbehaving):
    started = time.monotonic()
    state = await _graph(misbehaving("drip")).ainvoke(
        {"query": "What is the capital of Peru?"}, context=Context(expert_retries=0))
    took = time.monotonic() - started
    assert "no answer within 2 s" in state["answers"]["q1"]["error"]
    assert took < 30, took  # the expert limit is 300 s; the card's timeout is 2 s


async def test_a_twenty_megabyte_reply_is_cut_with_a_note(misbehaving):
    state = await _graph(misbehaving("big")).ainvoke(
        {"query": "What is the capital of Peru?"}, context=Context(expert_retries=0))
    answer = state["answers"]["q1"]["answer"]
    assert len(answer) < MAX_ANSWER_CHARS + 200
    assert f"the expert answered {BIG:,} characters" in answer
