"""The graph as a chat model in LCEL and as a tool in a prebuilt agent (fakes)."""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from comp_llm_graph import CompLLMChat, Context, comp_llm_tool
from tests.unit.test_generate_subqueries import TWO, _graph


def test_a_chain_prompt_model_parser_answers_with_the_graph():
    chat = CompLLMChat(graph=_graph(TWO))
    chain = ChatPromptTemplate.from_messages([("user", "{question}")]) | chat | StrOutputParser()
    answer = chain.invoke({"question": "Capital of Peru, and 3 plus 4?"})
    assert "geography answers What is the capital of Peru?" in answer
    assert "math answers What is 3 plus 4?" in answer
    reply = chat.invoke("Capital of Peru, and 3 plus 4?")
    plan = reply.response_metadata["comp_llm"]["plan"]
    assert [p["expert"] for p in plan] == ["geography", "math"]
    assert reply.response_metadata["comp_llm"]["planning"]["status"] == "valid"


async def test_streaming_joins_to_the_final_answer():
    composed = CompLLMChat(graph=_graph(TWO), context=Context(aggregate="compose"))
    chunks = [chunk async for chunk in composed.astream("Capital of Peru, and 3 plus 4?")]
    whole = await composed.ainvoke("Capital of Peru, and 3 plus 4?")
    assert "".join(str(c.content) for c in chunks) == whole.content
    assert chunks[-1].response_metadata["comp_llm"]["plan"]
    sync = "".join(str(c.content) for c in composed.stream("Capital of Peru, and 3 plus 4?"))
    assert sync == whole.content


class _ToolCaller(FakeMessagesListChatModel):
    def bind_tools(self, tools, **kwargs):
        return self


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # create_react_agent's new home
def test_the_tool_gives_the_agent_the_answer_and_keeps_the_plan_as_artifact():
    from langgraph.prebuilt import create_react_agent

    tool = comp_llm_tool(_graph(TWO))
    model = _ToolCaller(responses=[
        AIMessage("", tool_calls=[{"name": "comp_llm", "id": "c1",
                                   "args": {"question": "Capital of Peru, and 3 plus 4?"}}]),
        AIMessage("Done.")])
    state = create_react_agent(model, [tool]).invoke(
        {"messages": [("user", "Capital of Peru, and 3 plus 4?")]})
    result = next(m for m in state["messages"] if isinstance(m, ToolMessage))
    assert "geography answers" in result.content and "plan" not in result.content
    assert [s["id"] for s in result.artifact["plan"]] == ["q1", "q2"]
    assert len(json.dumps(result.content)) < 400  # the answer, not the whole state
