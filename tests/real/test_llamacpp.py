"""The llama.cpp engine on the shipped SmolLM2: answers, continuous batching, streaming, grammar.

Every test loads the real GGUF through xllamacpp; the Q8_0 copy is made once in this module's
cache folder (a few seconds) and shared.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from comp_llm_graph.runtimes.llamacpp import DEFAULT_FORMAT, smollm2

SYSTEM = SystemMessage("You are a helpful assistant. Answer in one short sentence.")


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llamacpp-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder))
        yield folder


def test_answers_from_the_re_encoded_copy_with_usage(cache):
    message = smollm2(32).invoke([SYSTEM, HumanMessage("What is the capital of France?")])
    assert "Paris" in message.content
    assert message.response_metadata["model_name"] == f"SmolLM2-135M-Instruct.{DEFAULT_FORMAT}"
    assert 0 < message.usage_metadata["output_tokens"] <= 32
    assert message.usage_metadata["input_tokens"] > 10
    copies = list((cache / "comp-llm-graph" / "models").glob(f"*.{DEFAULT_FORMAT}.gguf"))
    assert len(copies) == 1  # made at first use, in the cache folder


async def test_concurrent_calls_are_decoded_together_with_the_same_answers():
    """Continuous batching: three calls on one model overlap (each saw 3 in flight), and each
    answers its own prompt as a call alone does.

    The texts are not compared word for word: llama.cpp's kernels for a batch of 3 sum in
    another order than for 1, and a near-tie between two tokens can flip ("Hamlet is a classic
    play by" vs "Hamlet by"; "composed of tiny particles called protons" vs "composed of
    protons", both seen in CI runs). What must hold is that no answer is another prompt's.
    """
    prompts = {"What is the capital of France?": "paris", "Who wrote Hamlet?": "shakespeare",
               "What is an atom?": "electron"}
    batched = smollm2(24, max_batch_size=4, cache_prompt=False)
    batched.load()  # so that no call generates while the others wait for the model to load
    together = await asyncio.gather(*(batched.ainvoke([SYSTEM, HumanMessage(p)])
                                      for p in prompts))
    alone = [await smollm2(24, max_batch_size=1, cache_prompt=False).ainvoke(
        [SYSTEM, HumanMessage(p)]) for p in prompts]
    assert [m.response_metadata["batch_size"] for m in together] == [3, 3, 3]
    assert [m.response_metadata["batch_size"] for m in alone] == [1, 1, 1]
    for (prompt, word), one, solo in zip(prompts.items(), together, alone, strict=True):
        assert word in one.content.lower() and word in solo.content.lower(), (prompt, one, solo)
        others = [w for w in prompts.values() if w != word]
        assert not any(w in one.content.lower() for w in others), (prompt, one.content)


async def test_streaming_yields_tokens_then_usage_and_matches_invoke():
    model = smollm2(40)
    messages = [SYSTEM, HumanMessage("Tell me about the Moon.")]
    chunks = [chunk async for chunk in model.astream(messages)]
    whole = await model.ainvoke(messages)
    assert len(chunks) > 5  # token by token, not one block
    assert chunks[-1].usage_metadata == whole.usage_metadata  # the closing chunk counts them
    assert "".join(c.content for c in chunks).strip() == whole.content
    sync = list(model.stream(messages))
    assert "".join(c.content for c in sync) == "".join(c.content for c in chunks)


async def test_messages_mode_carries_the_reply_and_events_carry_the_expert_tokens(tmp_path):
    """`stream_mode="messages"` carries the aggregator's tokens, under one id, and nothing else
    (no echo of the question, no sub-answers: what a chat UI renders); the experts' tokens are
    in `astream_events`, tagged with their sub-query."""
    from comp_llm_graph import Context, build_graph, default_components

    graph = build_graph(**default_components(persist_directory=tmp_path))
    query = {"query": "Who wrote Hamlet, and what is the boiling point of water in Celsius?"}
    context = Context(mode="comp", aggregate="llm")
    seen = []
    async for chunk, metadata in graph.astream(query, context=context, stream_mode="messages"):
        if chunk.content:
            seen.append((chunk.type, chunk.id, metadata["langgraph_node"]))
    assert {node for _, _, node in seen} == {"aggregate"}, seen
    assert len({message_id for _, message_id, _ in seen}) == 1 and len(seen) > 3
    experts: dict[str, int] = {}
    async for event in graph.astream_events(query, context=context, version="v2"):
        if event["event"] == "on_chat_model_stream" and "comp_llm:expert" in event["tags"]:
            sub_id = event["metadata"]["subquery_id"]
            experts[sub_id] = experts.get(sub_id, 0) + 1
    assert len(experts) == 2 and min(experts.values()) > 3, experts  # both sub-queries' tokens


async def test_planner_in_the_line_format_is_grammar_constrained_and_stops_at_a_repeat():
    """The line format under its grammar: `qk: ...` lines, a few tokens each; a repeated
    sub-question stops generation."""
    from comp_llm_graph.context import Context
    from comp_llm_graph.planning.plan import parse_plan
    from comp_llm_graph.planning.planner import plan_format, planner_messages

    planner = smollm2(320, plan_grammar=True).model_copy(update={"plan_format": "lines"})
    assert planner.disable_streaming  # its text is cut after generation
    assert plan_format(planner) == "lines"
    query = "What is the capital of France, and what is 15% of 240?"
    message = await planner.ainvoke(planner_messages(query, Context(), "lines"),
                                    max_subqueries=5)
    subs, notes = parse_plan(message.content)
    assert notes == []
    assert [line.split(":")[0] for line in message.content.splitlines()] == [
        f"q{k}" for k in range(1, len(subs) + 1)]
    assert [s.id for s in subs] == [f"q{k}" for k in range(1, len(subs) + 1)]
    # a few tokens per sub-query (the JSON format spends about 18 on the structure of each);
    # one more line may have been generated and cut as a repeat
    assert message.usage_metadata["output_tokens"] <= 16 * (len(subs) + 1)
    if "stop_reason" in message.response_metadata:
        assert "repeated an earlier sub-question" in message.response_metadata["stop_reason"]
        assert len({s.question for s in subs}) == len(subs)


def test_a_process_using_the_engine_exits_cleanly(cache):
    """Models are closed at exit: the interpreter ends promptly with status 0."""
    code = ("from langchain_core.messages import HumanMessage\n"
            "from comp_llm_graph.runtimes.llamacpp import smollm2\n"
            "print(smollm2(8).invoke([HumanMessage('Hi')]).content)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env={**__import__("os").environ,
                                              "XDG_CACHE_HOME": str(cache)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip()


def test_the_servers_http_port_refuses_requests_without_its_key():
    """llama.cpp's server also listens on a loopback port; it answers nobody but this process."""
    import urllib.error
    import urllib.request

    from comp_llm_graph.runtimes.llama_server import use_server

    model = smollm2(8)
    assert model.invoke([HumanMessage("Hi")]).content
    with use_server(model._settings()) as (server, _):
        url = server._server.listening_address
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(
        f"{url}/v1/chat/completions", headers={"Content-Type": "application/json"},
        data=b'{"messages": [{"role": "user", "content": "hi"}]}')
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 401


async def test_the_real_planner_starts_sub_queries_before_its_plan_is_complete(tmp_path):
    """The streaming planner on SmolLM2: on a two-part request the planner must split (not two
    questions the query already separates), the first sub-query is answered early (its expert
    started while the planner was still writing) and its answer is used."""
    from comp_llm_graph import Context, build_graph, default_components

    components = default_components(persist_directory=tmp_path)
    components["registry"].route(["warm-up"])  # the index is built, as after a first run
    graph = build_graph(**components)
    state = await graph.ainvoke(
        {"query": "Name the capital of France and the author of Hamlet."},
        context=Context(mode="comp"))
    assert state["planning"]["status"] in ("valid", "repaired")  # the planner wrote it
    early = state["planning"]["early_started"]
    assert early and early[0] == "q1"
    plan_done = state["run_started"] + state["timings"]["plan"]
    first = state["answers"]["q1"]
    assert first["started_at"] < plan_done and first["error"] is None and first["answer"]
