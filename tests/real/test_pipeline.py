"""The real components: MiniLM + Chroma routing, SmolLM2 planning, the CLI and a Studio server.

Nothing here is faked. The models come from the installed wheels; Chroma persists to a temporary
folder; the server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from comp_llm_graph.evaluation.fleet import free_ports
from comp_llm_graph.experts import ExpertRegistry
from tests.fakes import DATA, stop_server

pytestmark = pytest.mark.real
REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "comp-llm")

# Questions written for this test (none is an example in a card), with the expert they belong to.
LABELLED = [
    ("What is 48 divided by 6?", "math"),
    ("Find the integral of 2x.", "math"),
    ("What is the unit of force?", "physics"),
    ("How fast does sound travel in air?", "physics"),
    ("What is the molar mass of water?", "chemistry"),
    ("Which gas makes up most of the air we breathe, chemically?", "chemistry"),
    ("What do mitochondria do in a cell?", "biology"),
    ("How do bees pollinate flowers?", "biology"),
    ("What are the symptoms of the flu?", "health"),
    ("How much ibuprofen can an adult take?", "health"),
    ("What is a linked list?", "computer_science"),
    ("What does a compiler do?", "computer_science"),
    ("What is the statute of limitations for fraud?", "law"),
    ("Can a minor sign a contract?", "law"),
    ("Who won the Battle of Waterloo?", "history"),
    ("When did the Roman Empire fall?", "history"),
    ("Why do interest rates affect inflation?", "economics"),
    ("What is a trade deficit?", "economics"),
    ("What is the capital of Australia?", "geography"),
    ("Which river flows through Cairo?", "geography"),
    ("What is Kant's categorical imperative?", "philosophy"),
    ("What did Plato believe about the soul?", "philosophy"),
    ("Who sang Bohemian Rhapsody?", "generalist"),
    ("Who won the 2010 football World Cup?", "generalist"),
]

MMLU_TO_EXPERT = {"computer science": "computer_science"}
"""MMLU subcategory -> default expert, where the names differ (every other one is the same)."""


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> ExpertRegistry:
    registry = ExpertRegistry.from_folders([], persist_directory=tmp_path_factory.mktemp("index"),
                                           router="similarity")
    registry.index_cards()
    return registry


def test_minilm_chroma_routes_labelled_questions(registry):
    routes = registry.route([q for q, _ in LABELLED])
    right = [r.expert == label for r, (_, label) in zip(routes, LABELLED, strict=True)]
    wrong = [(q, r.expert) for r, (q, label), ok in zip(routes, LABELLED, right, strict=True)
             if not ok]
    assert sum(right) / len(right) >= 0.8, wrong


def test_minilm_chroma_routes_mmlu_questions_far_above_chance(registry):
    """MMLU test questions of the 16 domains (all but "other"), labels from subject_categories.json."""
    subjects = json.loads((DATA / "mmlu" / "subject_categories.json").read_text())["subjects"]
    rows = []
    for subject, info in sorted(subjects.items()):
        expert = MMLU_TO_EXPERT.get(info["subcategory"], info["subcategory"])
        if info["subcategory"] != "other":
            assert expert in registry.cards
            with open(DATA / "mmlu" / "test" / f"{subject}_test.csv", newline="") as f:
                rows += [(r[0], expert) for r in csv.reader(f)]
    sample = random.Random(0).sample(rows, 300)
    routes = registry.route([q for q, _ in sample])
    accuracy = sum(r.expert == label for r, (_, label) in zip(routes, sample, strict=True)) / 300
    print(f"MMLU routing top-1 over 16 domains: {accuracy:.3f}")
    assert accuracy >= 0.40  # chance is 1/17


def test_packaged_learned_router_routes_labelled_questions(tmp_path):
    """The default pack ships a router fitted on MMLU dev+val; it is used without any fit."""
    learned = ExpertRegistry.from_folders([], persist_directory=tmp_path)
    assert learned.router.method == "learned"
    domain = [(q, label) for q, label in LABELLED if label != "generalist"]
    routes = learned.route([q for q, _ in domain])
    assert {r.method for r in routes} == {"learned"}
    right = sum(r.expert == label for r, (_, label) in zip(routes, domain, strict=True))
    assert right / len(domain) >= 0.8, [(q, r.expert) for r, (q, _) in zip(routes, domain, strict=True)]


def test_persistent_index_is_reused(registry, tmp_path):
    first = ExpertRegistry.from_folders([], persist_directory=tmp_path, router="similarity",
                                        embeddings=registry.router.index.embeddings)
    assert first.index_cards()["embedded"] == len(first.cards)
    second = ExpertRegistry.from_folders([], persist_directory=tmp_path, router="similarity",
                                         embeddings=registry.router.index.embeddings)
    assert second.index_cards() == {"embedded": 0, "reused": len(second.cards)}
    assert second.route(["What is the capital of Australia?"])[0].expert == "geography"


async def test_smollm2_planner_output_always_parses():
    """Grammar-constrained decoding: every plan parses, ids are unique, dependencies point back."""
    from langchain_core.messages import HumanMessage

    from comp_llm_graph.context import Context
    from comp_llm_graph.defaults import PLANNER_MAX_NEW_TOKENS
    from comp_llm_graph.planning.plan import parse_plan
    from comp_llm_graph.planning.planner import planner_messages
    from comp_llm_graph.runtimes.llamacpp import smollm2

    questions = json.loads((DATA / "musique" / "dev.json").read_text())[:3]
    planner = smollm2(PLANNER_MAX_NEW_TOKENS, plan_grammar=True)
    for item in questions:
        messages = planner_messages(item["question"], Context(max_subqueries=4))
        assert isinstance(messages[-1], HumanMessage)
        output = (await planner.ainvoke(messages, max_subqueries=4)).content
        subs, notes = parse_plan(output)
        assert notes == [] and 1 <= len(subs) <= 4
        ids = [s.id for s in subs]
        assert ids == [f"q{k}" for k in range(1, len(subs) + 1)]
        for position, sub in enumerate(subs):
            assert set(sub.depends_on) <= set(ids[:position])


async def test_transformers_concurrent_calls_run_as_one_batch_with_the_same_answers():
    """The transformers path: batched greedy generation (left padding) gives what one-by-one
    generation gives."""
    import asyncio

    from langchain_core.messages import HumanMessage

    from comp_llm_graph.runtimes.local import smollm2_transformers as smollm2

    prompts = ["What is the capital of France?", "Who wrote Hamlet?", "What is an atom?"]
    batched, single = smollm2(24, max_batch_size=4), smollm2(24, max_batch_size=1)
    together = await asyncio.gather(*(batched.ainvoke([HumanMessage(p)]) for p in prompts))
    alone = [await single.ainvoke([HumanMessage(p)]) for p in prompts]
    assert [m.response_metadata["batch_size"] for m in together] == [3, 3, 3]
    assert [m.response_metadata["batch_size"] for m in alone] == [1, 1, 1]
    assert [m.content for m in together] == [m.content for m in alone]
    assert "Paris" in together[0].content
    assert all(m.usage_metadata["output_tokens"] > 0 for m in together)


async def test_react_mode_on_the_real_models(tmp_path):
    """The plan-act-observe baseline on SmolLM2 + MiniLM + Chroma: each step sees the last."""
    from comp_llm_graph import Context, build_graph, default_components

    graph = build_graph(**default_components(persist_directory=tmp_path), baselines=True)
    state = await graph.ainvoke({"query": "What is the capital of France, and who wrote Hamlet?"},
                                context=Context(mode="react", max_subqueries=2))
    assert state["planning"]["status"] == "react"
    assert 1 <= len(state["plan"]) <= 2
    assert len(state["planning"]["attempts"]) >= len(state["plan"])
    for position, sub in enumerate(state["plan"]):
        assert sub["depends_on"] == [f"q{k}" for k in range(1, position + 1)]
    spans = sorted((a["started_at"], a["finished_at"]) for a in state["answers"].values())
    assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:], strict=False))
    assert state["final_answer"].strip()


def test_cli_ask_json_on_the_real_models(tmp_path):
    query = "What is the capital of France, and what is 15% of 240?"
    proc = subprocess.run(
        [CLI, "ask", "--json", "--cache-dir", str(tmp_path), "--draw", str(tmp_path / "plan.png"),
         query],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert (tmp_path / "plan.png").read_bytes()[:4] == b"\x89PNG"
    assert all(sub["id"] in (tmp_path / "plan.mmd").read_text() for sub in doc["plan"])
    assert doc["query"] == query
    assert doc["planning"]["status"] in {"valid", "repaired", "replanned", "fallback", "enumerated"}
    ids = [sub["id"] for sub in doc["plan"]]
    assert ids and len(set(ids)) == len(ids)
    for position, sub in enumerate(doc["plan"]):
        assert set(sub["depends_on"]) <= set(ids[:position])
        assert sub["expert"] and isinstance(sub["score"], float)
        assert sub["candidates"][0]["score"] >= sub["candidates"][-1]["score"]
    assert list(doc["answers"]) == ids
    assert all(a["answer"] or a["error"] for a in doc["answers"].values())
    assert doc["final_answer"].strip()
    assert {"plan", "execute", "aggregate", "total", "wall"} <= set(doc["timings"])
    # No part dropped: both pieces of the question are in the final answer, checked and recorded.
    assert "paris" in doc["final_answer"].lower() and "36" in doc["final_answer"]
    assert doc["aggregation"]["checked"] == [sub["id"] for sub in doc["plan"]
                                             if not any(sub["id"] in s["depends_on"]
                                                        for s in doc["plan"])]


def test_cli_ask_stream_shows_the_plan_then_answers_then_the_final_answer(tmp_path):
    """`ask --stream` prints the plan as soon as it exists, each sub-answer as it finishes, and
    the final answer (the aggregator's tokens as generated) before the timings."""
    query = "Who wrote Hamlet, and what is the boiling point of water in Celsius?"
    proc = subprocess.run([CLI, "ask", "--stream", "--cache-dir", str(tmp_path), query],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    plan, first_answer, final = out.find("Plan ("), out.find("q1 ["), out.find("Final answer")
    assert -1 < plan < first_answer < final, out
    assert "execute" in out[final:] and "total" in out[final:]  # the timings close it


def test_cli_route_file_json_keeps_input_order(tmp_path):
    questions = ["What is the capital of Australia?", "What is 48 divided by 6?",
                 "What does a compiler do?", "What is classical conditioning?"]
    path = tmp_path / "questions.txt"
    path.write_text("\n".join(questions) + "\n")
    proc = subprocess.run([CLI, "route", "--file", str(path), "--json", "--cache-dir",
                           str(tmp_path / "index")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["question"] for r in rows] == questions
    assert [r["expert"] for r in rows] == ["geography", "math", "computer_science", "psychology"]
    for row in rows:
        scores = [c["score"] for c in row["candidates"]]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True)
        assert row["candidates"][0]["expert"] == row["expert"]


def test_cli_route_prints_candidates_and_decision(tmp_path):
    proc = subprocess.run([CLI, "route", "--cache-dir", str(tmp_path), "Who won the Battle of "
                           "Waterloo?"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "1. history" in proc.stdout
    assert "-> history (learned: best score)" in proc.stdout  # the router shipped with the pack


def test_cli_reads_the_query_from_stdin_in_monolithic_mode(tmp_path):
    proc = subprocess.run(
        [CLI, "ask", "--mode", "monolithic", "--cache-dir", str(tmp_path), "-"],
        input="What is the capital of Italy?\n", capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Plan (monolithic)" in proc.stdout
    assert "Final answer" in proc.stdout


SYSTEM = {"created_by": "system"}
"""The assistants `langgraph dev` makes for each graph in langgraph.json."""


def test_langgraph_dev_serves_the_graph(tmp_path):
    """`langgraph dev` (Studio's server) loads langgraph.json and runs the graph on 127.0.0.1."""
    import httpx
    from langgraph_sdk import get_client

    port = free_ports(1)[0]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "langgraph"), "dev", "--no-browser", "--no-reload",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        else:
            log.flush()
            tail = (tmp_path / "server.log").read_text()[-3000:]
            pytest.fail(f"langgraph dev did not start within 120 s:\n{tail}")

        import asyncio

        async def run() -> dict:
            client = get_client(url=url)
            assistants = await client.assistants.search(graph_id="comp_llm", metadata=SYSTEM)
            assert assistants, "the comp_llm graph is not served"
            return await client.runs.wait(
                None, assistants[0]["assistant_id"],
                input={"query": "What is the capital of Italy?"},
                context={"mode": "monolithic"},
            )

        state = asyncio.run(run())
        assert state["plan"][0]["question"] == "What is the capital of Italy?"
        assert state["final_answer"].strip()

        async def chat() -> tuple[dict, set[str], list[dict]]:
            """Two chat turns on one thread: messages in, events out, the follow-up resolved."""
            client = get_client(url=url)
            assistant = (await client.assistants.search(graph_id="comp_llm", metadata=SYSTEM))[0]["assistant_id"]
            thread = (await client.threads.create())["thread_id"]
            kinds, custom = set(), []
            async for part in client.runs.stream(
                    thread, assistant, stream_mode=["custom", "messages-tuple"],
                    input={"messages": [{"role": "user",
                                         "content": "What is the capital of France?"}]}):
                kinds.add(part.event.split("|")[0])
                if part.event == "custom":
                    custom.append(part.data)
            await client.runs.wait(thread, assistant, input={"messages": [
                {"role": "user", "content": "And what is its population?"}]})
            return (await client.threads.get_state(thread))["values"], kinds, custom

        values, kinds, custom = asyncio.run(chat())
        assert {"custom", "messages"} <= kinds
        events = [e["event"] for e in custom]  # an early start may come before the plan
        assert events.count("plan") == 1 and events[-1] == "aggregation"
        started = {e["id"] for e in custom if e["event"] == "subquery_started"}
        assert started and started == {e["id"] for e in custom
                                       if e["event"] == "subquery_finished"}
        assert [m["type"] for m in values["messages"]] == ["human", "ai", "human", "ai"]
        assert values["messages"][-1]["content"] == values["final_answer"]
        condensed = values["planning"]["condensed"]
        assert condensed["asked"] == "And what is its population?"
        assert condensed["referent"] in ("Paris", "France")
        assert condensed["referent"] in json.dumps(values["plan"])

        async def review() -> tuple[dict, dict, dict, dict]:
            """Plan review: the run pauses with the plan; an edited plan is resumed and run."""
            client = get_client(url=url)
            assistant = (await client.assistants.search(graph_id="comp_llm", metadata=SYSTEM))[0]["assistant_id"]
            thread = (await client.threads.create())["thread_id"]
            context = {"review_plan": True}
            await client.runs.wait(thread, assistant, context=context,
                                   input={"query": "What is the capital of France?"})
            paused = await client.threads.get_state(thread)
            edited = [{"id": "q1", "question": "What is the capital of Spain?",
                       "depends_on": []}]
            output = await client.runs.wait(thread, assistant, context=context,
                                            command={"resume": edited})
            drawing = await client.assistants.get_graph(assistant)
            baselines = (await client.assistants.search(graph_id="comp_llm_baselines", metadata=SYSTEM))[0]
            return (paused, output, drawing,
                    await client.assistants.get_graph(baselines["assistant_id"]))

        async def bad_assistant() -> str:
            """An assistant naming an unknown model fails at the start of its run, clearly."""
            client = get_client(url=url)
            made = await client.assistants.create("comp_llm", context={"planner_model": "gpt-9"})
            try:
                await client.runs.wait(None, made["assistant_id"], input={"query": "Hi?"})
            except Exception as exc:  # noqa: BLE001 - the SDK raises a plain Exception
                return str(exc)
            finally:  # the server keeps assistants in the checkout (.langgraph_api)
                await client.assistants.delete(made["assistant_id"])
            return "the run did not fail"

        assert "planner_model names a model: gemma3 or smollm2" in asyncio.run(bad_assistant())
        paused, output, drawing, baselines = asyncio.run(review())
        request = paused["interrupts"][0]["value"] if paused.get("interrupts") else (
            paused["tasks"][0]["interrupts"][0]["value"])
        assert request["kind"] == "plan_review" and request["plan"]
        assert paused["next"] == ["review_plan"] and not paused["values"].get("answers")
        assert [s["question"] for s in output["plan"]] == ["What is the capital of Spain?"]
        assert output["answers"]["q1"]["question"] == "What is the capital of Spain?"
        assert output["planning"]["reviewed"]["edited"] is True
        assert not {"run_token", "react_finished", "review"} & set(output)  # the narrow output
        nodes = {node["id"] for node in drawing["nodes"]}
        assert {"generate_subqueries", "review_plan", "execute_subquery", "aggregate"} <= nodes
        assert "decide" not in nodes
        assert "decide" in {node["id"] for node in baselines["nodes"]}
    finally:
        stop_server(server, log)
