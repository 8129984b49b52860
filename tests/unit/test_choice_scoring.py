"""Choice questions: letters from one token, a letter prior removed two ways, card checks."""

from __future__ import annotations

import math

import pytest

from comp_llm_graph.errors import ExpertCardError
from comp_llm_graph.experts import load_card
from comp_llm_graph.experts.cards import ExpertCard
from comp_llm_graph.experts.letters import CONTENT_FREE
from comp_llm_graph.experts.llm_expert import llm_expert
from comp_llm_graph.runtimes.logprobs import letter_logprobs

QUESTION = "What is the capital of France?\n(A) Berlin (B) Paris (C) Madrid (D) Rome"


class TopServer:
    """A llama.cpp server stand-in whose one generated token has the given top candidates."""

    def __init__(self, top: dict[str, float]) -> None:
        self.top, self.requests = top, []

    def complete(self, request):
        self.requests.append(request)
        top = [{"token": t, "logprob": p} for t, p in self.top.items()]
        return {"choices": [{"logprobs": {"content": [{"token": "x", "logprob": 0.0,
                                                       "top_logprobs": top}]}}]}


def test_letter_variants_add_up_and_missing_letters_get_less_than_the_smallest():
    server = TopServer({"(B": math.log(0.3), "B": math.log(0.1), " A": math.log(0.2),
                        "The": math.log(0.3), "(C": math.log(0.05)})
    scores = letter_logprobs(server, {"messages": []}, "ABCD")
    probs = [math.exp(s) for s in scores]
    assert sum(probs) == pytest.approx(1.0)
    assert probs.index(max(probs)) == 1
    assert probs[1] / probs[0] == pytest.approx(0.4 / 0.2)
    assert 0 < probs[3] < probs[2]  # D was not reported: below the smallest reported (C)
    assert server.requests[0]["max_tokens"] == 1 and server.requests[0]["logprobs"] is True


class LetterModel:
    """A chat model stand-in scoring letters: a bias for a place plus 1 for the right text."""

    def __init__(self, bias: list[float], right: str) -> None:
        self.bias, self.right, self.calls = bias, right, []

    def score_letters(self, messages, letters):
        shown = [line[4:] for line in str(messages[-1].content).splitlines()
                 if line[:1] == "("]
        self.calls.append(shown)
        return [b + (text == self.right) for b, text in zip(self.bias, shown, strict=True)]

    async def ascore_letters(self, messages, letters):
        return self.score_letters(messages, letters)


def card(**options) -> ExpertCard:
    return ExpertCard(name="geography", description="Places and countries.", backend="smollm2",
                      examples=["Where is Paris?"], options=options)


BIAS = [0.0, 0.0, 3.0, 0.0]
"""The model favours the third place by 3 nats whatever the question."""


@pytest.mark.parametrize("call", ["invoke", "ainvoke"])
async def test_rotating_the_options_cancels_a_bias_for_one_place(call):
    model = LetterModel(BIAS, "Paris")
    expert = llm_expert(card(choice_scoring="letters-rotated"), model)
    reply = getattr(expert, call)({"question": QUESTION, "context": ""})
    reply = await reply if call == "ainvoke" else reply
    assert reply.content == "(B) Paris"
    assert reply.response_metadata["answer_form"]["scoring"] == "letters-rotated"
    assert sorted(map(tuple, model.calls)) == sorted(
        tuple(["Berlin", "Paris", "Madrid", "Rome"][k:] + ["Berlin", "Paris", "Madrid", "Rome"][:k])
        for k in range(4))


async def test_raw_letters_keep_the_bias():
    model = LetterModel(BIAS, "Paris")
    reply = await llm_expert(card(choice_scoring="letters-raw"), model).ainvoke(
        {"question": QUESTION, "context": ""})
    assert reply.content == "(C) Madrid" and len(model.calls) == 1


def test_options_scoring_asks_once_per_option():
    class OptionModel(LetterModel):
        supports_scoring = True

        def tokenizer(self):
            return None

        def score_replies(self, messages, replies):
            self.calls.append(replies)
            return [1.0 if r == "Paris" else 0.0 for r in replies]

    model = OptionModel(BIAS, "Paris")
    reply = llm_expert(card(choice_scoring="options"), model).invoke(
        {"question": QUESTION, "context": ""})
    assert reply.content == "(B) Paris" and model.calls == [["Berlin", "Paris", "Madrid", "Rome"]]


class PriorModel(LetterModel):
    """Its letter prior is the bias; a content-free question shows only the bias."""

    def score_letters(self, messages, letters):
        if CONTENT_FREE in str(messages[-1].content):
            self.calls.append("content-free")
            return list(self.bias)
        return super().score_letters(messages, letters)


def test_the_content_free_prior_is_subtracted_and_asked_once():
    model = PriorModel(BIAS, "Paris")
    expert = llm_expert(card(choice_scoring="letters"), model)
    replies = [expert.invoke({"question": QUESTION, "context": ""}) for _ in range(2)]
    assert [r.content for r in replies] == ["(B) Paris"] * 2
    assert model.calls.count("content-free") == 1 and len(model.calls) == 3


def test_the_model_decides_the_scoring_when_the_card_does_not():
    class Named(PriorModel):
        model = "qwen2.5-coder-1.5b"

    model = Named(BIAS, "Paris")
    reply = llm_expert(card(), model).invoke({"question": QUESTION, "context": ""})
    assert reply.response_metadata["answer_form"]["scoring"] == "letters"
    assert "content-free" in model.calls


def test_an_unknown_choice_scoring_is_refused_at_load(tmp_path):
    path = tmp_path / "geo.yaml"
    path.write_text("name: geo\ndescription: Places.\nexamples: ['Where is Paris?']\n"
                    "options: {choice_scoring: guess}\n")
    with pytest.raises(ExpertCardError, match="choice_scoring must be one of options, letters, "
                                              "letters-rotated, letters-raw"):
        load_card(path)
