"""`CompLLMChat` and the tool on the embedded models, MiniLM and Chroma."""

from __future__ import annotations

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from comp_llm_graph import CompLLMChat, Context, build_graph, comp_llm_tool, default_components

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    return build_graph(**default_components(
        persist_directory=tmp_path_factory.mktemp("index")))


def test_a_real_lcel_chain_answers_through_the_graph(graph):
    chain = (ChatPromptTemplate.from_messages([("user", "What is the capital of {country}?")])
             | CompLLMChat(graph=graph, context=Context(mode="comp")) | StrOutputParser())
    assert "Paris" in chain.invoke({"country": "France"})


async def test_the_aggregators_tokens_stream_and_join_to_the_answer(graph):
    chat = CompLLMChat(graph=graph, context=Context(mode="comp", aggregate="llm"))
    question = "Who wrote Hamlet, and what is the boiling point of water in Celsius?"
    chunks = [chunk async for chunk in chat.astream(question)]
    final = chunks[-1].response_metadata["comp_llm"]
    assert len(chunks) > 3  # token by token, not one block
    text = "".join(str(c.content) for c in chunks)
    assert text.strip() and len(final["plan"]) >= 2
    assert final["aggregation"]["method"] in ("llm", "fallback")


async def test_the_tool_returns_the_answer_and_the_plan(graph):
    tool = comp_llm_tool(graph, context=Context(mode="comp"))
    message = await tool.ainvoke({"type": "tool_call", "id": "c1", "name": "comp_llm",
                                  "args": {"question": "What is the capital of Italy?"}})
    assert "Rome" in message.content
    assert message.artifact["plan"][0]["expert"]
