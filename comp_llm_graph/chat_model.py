"""The graph as a LangChain chat model and as a tool.

`CompLLMChat(graph=...)` is a `BaseChatModel`: messages in, the final answer out as an
`AIMessage` whose `response_metadata["comp_llm"]` holds the plan and the sub-answers. It fits
where any chat model does (`prompt | CompLLMChat(...) | StrOutputParser()`). Streaming yields the
aggregator's tokens as it writes; when the answer is composed without a model call it comes as
one chunk.

`comp_llm_tool(graph)` is a tool with `response_format="content_and_artifact"`: an agent sees the
answer; the plan with its sub-answers is the artifact, kept out of the agent's context.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import StructuredTool

from comp_llm_graph.context import Context
from comp_llm_graph.sync import iterate_sync, run_sync

__all__ = ["CompLLMChat", "comp_llm_tool"]

TOOL_DESCRIPTION = (
    "Answers a question that has several parts or steps by splitting it into sub-questions, "
    "asking an expert model for each, and combining their answers. Input: the question."
)


def _reply(state: dict[str, Any]) -> AIMessage:
    """The run's final answer message, with the run's record beside the plan."""
    reply = state["messages"][-1]
    metadata = dict(reply.response_metadata)
    metadata["comp_llm"] = {**metadata.get("comp_llm", {}), "planning": state.get("planning"),
                            "timings": state.get("timings")}
    return AIMessage(content=reply.content, response_metadata=metadata)


def _rest(final: str, streamed: str) -> str:
    """What the last chunk adds so the chunks join to the final answer.

    Nothing streamed (a composed answer): all of it. The aggregator's text followed by parts the
    coverage check appended: those parts. Otherwise (the aggregator failed and the answer was
    composed instead): the final answer after a blank line.
    """
    if not streamed:
        return final
    if final.startswith(streamed):
        return final[len(streamed):]
    return "\n\n" + final


class CompLLMChat(BaseChatModel):
    """A chat model that answers by running the Comp-LLM graph (module docstring)."""

    graph: Any
    """A compiled graph from `build_graph`."""
    context: Context | None = None
    """Run settings (mode, schedule, ...); None: `Context()`."""

    @property
    def _llm_type(self) -> str:
        return "comp-llm"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"graph": getattr(self.graph, "name", "comp_llm"),
                "mode": (self.context or Context()).mode}

    async def _run(self, messages: list[BaseMessage]) -> dict[str, Any]:
        return await self.graph.ainvoke({"messages": messages}, context=self.context)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        state = run_sync(self._run(messages))
        return ChatResult(generations=[ChatGeneration(message=_reply(state))])

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None,
                         **kwargs: Any) -> ChatResult:
        state = await self._run(messages)
        return ChatResult(generations=[ChatGeneration(message=_reply(state))])

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        streamed: list[str] = []
        state: dict[str, Any] = {}
        async for mode, data in self.graph.astream(
                {"messages": messages}, context=self.context, stream_mode=["messages", "values"]):
            if mode == "values":
                state = data
                continue
            chunk, metadata = data
            if metadata.get("langgraph_node") == "aggregate" and isinstance(
                    chunk, AIMessageChunk) and chunk.content:
                streamed.append(str(chunk.content))
                if run_manager:
                    await run_manager.on_llm_new_token(str(chunk.content))
                yield ChatGenerationChunk(message=AIMessageChunk(content=chunk.content))
        reply = _reply(state)
        yield ChatGenerationChunk(message=AIMessageChunk(
            content=_rest(str(reply.content), "".join(streamed)),
            response_metadata=reply.response_metadata, chunk_position="last"))

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        yield from iterate_sync(self._astream(messages, stop))


def comp_llm_tool(graph: Any, *, context: Context | None = None, name: str = "comp_llm",
                  description: str = TOOL_DESCRIPTION) -> StructuredTool:
    """The graph as a tool: the answer is the content, the plan and sub-answers the artifact."""

    def split(state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return state["final_answer"], {"plan": state["plan"], "answers": state.get("answers"),
                                       "aggregation": state.get("aggregation")}

    async def arun(question: str) -> tuple[str, dict[str, Any]]:
        return split(await graph.ainvoke({"query": question}, context=context))

    def run(question: str) -> tuple[str, dict[str, Any]]:
        return run_sync(arun(question))

    return StructuredTool.from_function(func=run, coroutine=arun, name=name,
                                        description=description,
                                        response_format="content_and_artifact")
