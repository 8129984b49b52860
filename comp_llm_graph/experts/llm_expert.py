"""An LLM expert: the card's system prompt, the question with earlier answers, a chat model.

The answer takes the form the question asks (`answer_form.py`): a choice or yes/no question is
answered by scoring its options when the chat model can (`supports_scoring`, the local llama.cpp
models), so a 135M model always names one option; otherwise the form is stated in the question.
The reply's `response_metadata["answer_form"]` says which form was used and how.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from comp_llm_graph.experts.answer_form import (
    FORM_INSTRUCTIONS,
    AnswerForm,
    answer_form,
    choice_answer,
)
from comp_llm_graph.experts.cards import ExpertCard
from comp_llm_graph.prompts import EXPERT_USER_PROMPT

__all__ = ["llm_expert"]

YES_NO = ("Yes", "No")


def _scored(form: AnswerForm, scores: list[float], chat_model: Any,
            replies: list[str]) -> AIMessage:
    """The best-scored option as the answer; its usage counts the options' forced tokens."""
    best = max(range(len(scores)), key=scores.__getitem__)
    text = choice_answer(form, best) if form.kind == "choice" else YES_NO[best]
    tokenizer = chat_model.tokenizer()
    forced = sum(len(tokenizer.encode(reply).ids) for reply in replies) if tokenizer else 0
    return AIMessage(content=text, response_metadata={"answer_form": {
        "kind": form.kind, "method": "scored", "scores": [round(s, 4) for s in scores]}},
        usage_metadata={"input_tokens": 0, "output_tokens": forced, "total_tokens": forced})


def llm_expert(card: ExpertCard, chat_model: Runnable) -> Runnable:
    """The expert Runnable of `card` on `chat_model` (input `{"question", "context"}`).

    The returned Runnable's `chat_model` attribute is `chat_model`.
    """
    prompt = ChatPromptTemplate.from_messages(
        [("system", card.system_prompt or f"You are an expert in {card.name}."),
         ("human", EXPERT_USER_PROMPT)],
    )

    def prepare(inputs: dict[str, Any]) -> tuple[AnswerForm, list[BaseMessage], list[str]]:
        form = answer_form(inputs["question"])
        if form.kind in ("choice", "yesno") and getattr(chat_model, "supports_scoring", False):
            replies = list(form.choices) if form.kind == "choice" else list(YES_NO)
            return form, prompt.format_messages(context=inputs.get("context", ""),
                                                question=form.stem), replies
        question = inputs["question"]
        if FORM_INSTRUCTIONS[form.kind]:
            question = f"{question}\n{FORM_INSTRUCTIONS[form.kind]}"
        return form, prompt.format_messages(context=inputs.get("context", ""),
                                            question=question), []

    def tag(form: AnswerForm, output: Any) -> Any:
        if isinstance(output, AIMessage):
            output.response_metadata["answer_form"] = {"kind": form.kind, "method": "stated"}
        return output

    def run(inputs: dict[str, Any], config: RunnableConfig) -> Any:
        form, messages, replies = prepare(inputs)
        if replies:
            return _scored(form, chat_model.score_replies(messages, replies), chat_model,
                           replies)
        return tag(form, chat_model.invoke(messages, config))

    async def arun(inputs: dict[str, Any], config: RunnableConfig) -> Any:
        form, messages, replies = prepare(inputs)
        if replies:
            return _scored(form, await chat_model.ascore_replies(messages, replies),
                           chat_model, replies)
        return tag(form, await chat_model.ainvoke(messages, config))

    expert = RunnableLambda(run, afunc=arun, name=f"expert:{card.name}")
    expert.chat_model = chat_model  # type: ignore[attr-defined]  # what it runs on, for callers
    return expert
