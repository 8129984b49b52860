"""Early starts with a planner on a real OpenAI-compatible server on loopback.

llama.cpp's own server (the C++ server, started in a child process through `xllamacpp`, as users
run `llama-server`) serves the embedded SmolLM2 GGUF on 127.0.0.1. The planner is LangChain's
`ChatOpenAI` on it, with the plan grammar sent in the request body (a llama.cpp server option),
and nothing of this package's engines: its tokens reach the early starts through LangChain's
streaming and callbacks alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from uuid import UUID

import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.runnables import RunnableLambda

from comp_llm_graph import Context, build_graph
from comp_llm_graph.planning.grammar import plan_grammar
from tests.fakes import fake_registry, planner, stop_server

SERVE = """
import sys, time, xllamacpp
params = xllamacpp.CommonParams()
params.model.path = sys.argv[1]
params.n_ctx = 4096
params.n_parallel = 1
params.cpuparams.n_threads = 1
params.hostnames = ["127.0.0.1"]
server = xllamacpp.Server(params)
print(server.listening_address, flush=True)
while True:
    time.sleep(3600)
"""


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    """llama.cpp's server on a free loopback port, serving SmolLM2 (the verified Q8_0 copy)."""
    import httpx

    from comp_llm_graph.runtimes.llamacpp import smollm2

    path = smollm2()._settings().path
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "-c", SERVE, path], stdout=subprocess.PIPE,
                               stderr=log, text=True)
    try:
        address = process.stdout.readline().strip()
        if not address:
            pytest.fail(f"llama.cpp's server did not start (exit {process.poll()})")
        url = address if address.startswith("http") else f"http://{address}"
        deadline = time.time() + 60
        while httpx.get(f"{url}/health", timeout=2).status_code != 200:
            if time.time() > deadline:
                pytest.fail("llama.cpp's server did not become healthy within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        stop_server(process, log)


class _PlannerEnd(AsyncCallbackHandler):
    """When the planner's call ended (the graph's callbacks reach every run inside it)."""

    def __init__(self) -> None:
        self.ended: list[float] = []
        self._planner: set[UUID] = set()

    async def on_chat_model_start(self, serialized, messages, *, run_id, **kwargs):
        if kwargs.get("name") == "planner" or "comp_llm:planner" in (kwargs.get("tags") or []):
            self._planner.add(run_id)

    async def on_llm_end(self, response, *, run_id, **kwargs):
        if run_id in self._planner:
            self.ended.append(time.time())


async def test_an_openai_compatible_planner_starts_sub_queries_while_it_writes(server_url):
    from langchain_openai import ChatOpenAI

    calls: dict[str, float] = {}

    def expert(name: str) -> RunnableLambda:
        async def answer(payload: dict) -> str:
            calls.setdefault(payload["question"], time.time())
            return f"{name} answer"

        return RunnableLambda(lambda payload: None, afunc=answer, name=name)

    served = ChatOpenAI(base_url=f"{server_url}/v1", model="smollm2", api_key="none",
                        temperature=0, max_retries=0, timeout=120,
                        extra_body={"grammar": plan_grammar(4), "max_tokens": 200})
    graph = build_graph(
        planner=served, aggregator=planner("FINAL"),
        registry=fake_registry({n: expert(n)
                                for n in ("geography", "math", "history", "generalist")}))
    ended = _PlannerEnd()
    state = await graph.ainvoke(
        {"query": "Who directed the film Jaws and when was that director born?"},
        config={"callbacks": [ended]}, context=Context())
    plan = json.loads(state["planning"]["attempts"][0]["raw"])["subqueries"]
    assert len(plan) >= 2, plan  # a plan of several items, so one was complete before the end
    assert state["planning"]["early_started"], state["planning"]
    assert min(calls.values()) < ended.ended[0]  # an expert was asked while the server was still writing
    assert all(state["answers"][sub["id"]]["error"] is None for sub in state["plan"])
