"""An LLM expert: the card's system prompt, the question with earlier answers, a chat model.

The answer takes the form the question asks (`answer_form.py`): a choice or yes/no question is
answered by scoring its options when the chat model can (`supports_scoring`, the local llama.cpp
models), so a 135M model always names one option; otherwise the form is stated in the question.
The reply's `response_metadata["answer_form"]` says which form was used and how.

A choice question is scored by the card's `options.choice_scoring`, else by its model's
catalogue default (chosen by measurement on MMLU val, `docs/models.md`): `options` scores each
option's text as the answer to the stem (one request per option); the `letters` methods show the
options and read the letter (`letters.py`).
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from comp_llm_graph.experts.answer_form import (
    FORM_INSTRUCTIONS,
    AnswerForm,
    answer_form,
    choice_answer,
)
from comp_llm_graph.experts.cards import ExpertCard
from comp_llm_graph.experts.letters import LetterScorer
from comp_llm_graph.prompts import EXPERT_USER_PROMPT

__all__ = ["llm_expert"]

YES_NO = ("Yes", "No")
LETTERS_INSTRUCTION = "Answer with the letter of the correct option."


def _scored(form: AnswerForm, scores: list[float], forced: int, how: str) -> AIMessage:
    """The best-scored option as the answer; its usage counts the forced or generated tokens."""
    best = max(range(len(scores)), key=scores.__getitem__)
    text = choice_answer(form, best) if form.kind == "choice" else YES_NO[best]
    return AIMessage(content=text, response_metadata={"answer_form": {
        "kind": form.kind, "method": "scored", "scoring": how,
        "scores": [round(s, 4) for s in scores]}},
        usage_metadata={"input_tokens": 0, "output_tokens": forced, "total_tokens": forced})


def _forced_tokens(chat_model: Any, replies: list[str]) -> int:
    tokenizer = chat_model.tokenizer()
    return sum(len(tokenizer.encode(reply).ids) for reply in replies) if tokenizer else 0


def _default_scoring(chat_model: Any) -> str:
    """The catalogue's choice scoring for the model, `options` for a model outside it."""
    from comp_llm_graph.runtimes.catalogue import CATALOGUE

    entry = CATALOGUE.get(str(getattr(chat_model, "model", "") or ""))
    return entry.choice_scoring if entry is not None else "options"


def llm_expert(card: ExpertCard, chat_model: Runnable) -> Runnable:
    """The expert Runnable of `card` on `chat_model` (input `{"question", "context"}`).

    The returned Runnable's `chat_model` attribute is `chat_model`.
    """
    system = card.system_prompt or f"You are an expert in {card.name}."
    prompt = ChatPromptTemplate.from_messages([("system", system), ("human", EXPERT_USER_PROMPT)])
    letters_prompt = ChatPromptTemplate.from_messages(
        [("system", f"{system} {LETTERS_INSTRUCTION}"), ("human", EXPERT_USER_PROMPT)])
    scoring = card.options.get("choice_scoring") or _default_scoring(chat_model)
    letters = (LetterScorer(chat_model, letters_prompt, scoring)
               if scoring != "options" and hasattr(chat_model, "score_letters") else None)

    def prepare(inputs: dict[str, Any]) -> tuple[AnswerForm, list[BaseMessage], list[str]]:
        form = answer_form(inputs["question"])
        if form.kind == "choice" and letters is not None:
            return form, [], []
        if form.kind in ("choice", "yesno") and getattr(chat_model, "supports_scoring", False):
            replies = list(form.choices) if form.kind == "choice" else list(YES_NO)
            return form, prompt.format_messages(context=inputs.get("context", ""),
                                                question=form.stem), replies
        question = inputs["question"]
        if FORM_INSTRUCTIONS[form.kind]:
            question = f"{question}\n{FORM_INSTRUCTIONS[form.kind]}"
        messages = prompt.format_messages(context=inputs.get("context", ""), question=question)
        if inputs.get("instructions"):  # the conversation's system messages, after the card's
            messages[0] = SystemMessage(f"{messages[0].content}\n\n{inputs['instructions']}")
        return form, messages, []

    def tag(form: AnswerForm, output: Any) -> Any:
        if isinstance(output, AIMessage):
            output.response_metadata["answer_form"] = {"kind": form.kind, "method": "stated"}
        return output

    def run(inputs: dict[str, Any], config: RunnableConfig) -> Any:
        form, messages, replies = prepare(inputs)
        if form.kind == "choice" and letters is not None:
            return _scored(form, *letters.score(form, inputs.get("context", "")), scoring)
        if replies:
            return _scored(form, chat_model.score_replies(messages, replies),
                           _forced_tokens(chat_model, replies), "options")
        return tag(form, chat_model.invoke(messages, config))

    async def arun(inputs: dict[str, Any], config: RunnableConfig) -> Any:
        form, messages, replies = prepare(inputs)
        if form.kind == "choice" and letters is not None:
            return _scored(form, *await letters.ascore(form, inputs.get("context", "")),
                           scoring)
        if replies:
            return _scored(form, await chat_model.ascore_replies(messages, replies),
                           _forced_tokens(chat_model, replies), "options")
        return tag(form, await chat_model.ainvoke(messages, config))

    expert = RunnableLambda(run, afunc=arun, name=f"expert:{card.name}")
    expert.chat_model = chat_model  # type: ignore[attr-defined]  # what it runs on, for callers
    return expert
