"""Answer forms and the planner's demonstrations on the real model, MiniLM, Chroma and data."""

from __future__ import annotations

import json
import math
import re

import pytest
from langchain_core.messages import HumanMessage
from tokenizers import Tokenizer

from comp_llm_graph.evaluation.planning_gold import load_musique, load_strategyqa
from comp_llm_graph.experts import ExpertRegistry
from comp_llm_graph.planning.demonstrations import PlanDemonstrations, load_bank
from comp_llm_graph.runtimes.llamacpp import smollm2
from tests.fakes import DATA, ephemeral_client

pytestmark = pytest.mark.real


def test_rebuilt_tokenizer_matches_the_models_own():
    """The GGUF vocabulary rebuilt with `tokenizers` splits text as the HF tokenizer does."""
    from comp_llm_graph.runtimes.weights import smollm2_folder

    reference = Tokenizer.from_file(str(smollm2_folder() / "tokenizer.json"))
    ours = smollm2().tokenizer()
    for text in ["Berlin", " the capital 1234 of x", "résumé £3.14", "(B) don't", "P > MC."]:
        assert ours.encode(text).ids == reference.encode(text, add_special_tokens=False).ids


def test_scored_replies_are_the_models_log_probabilities():
    model = smollm2(8)
    scores = model.score_replies([HumanMessage("What is the capital of France?")],
                                 ["Paris", "Banana", "the bankÕs release", ""])
    assert scores[0] > scores[1] and all(s < 0 for s in scores[:3]) and scores[3] == -math.inf


def test_choice_and_yes_no_questions_are_answered_in_form(tmp_path):
    registry = ExpertRegistry.from_folders(persist_directory=tmp_path)
    expert = registry.expert("geography")
    choice = expert.invoke({"question": "What is the capital of France? (A) Berlin (B) Paris "
                                        "(C) Madrid (D) Rome", "context": ""})
    assert choice.content == "(B) Paris"
    assert choice.response_metadata["answer_form"]["method"] == "scored"
    yes_no = expert.invoke({"question": "Is Paris in France?", "context": ""})
    assert yes_no.content in ("Yes", "No")


def test_demonstrations_come_from_train_splits_only():
    bank = load_bank(DATA)
    assert len(bank) > 2000
    evaluated = ({f"strategyqa:{p.id}" for p in load_strategyqa(DATA / "strategyqa")}
                 | {f"musique:{p.id}" for p in load_musique(DATA / "musique")})
    assert not evaluated & {d.id for d in bank}
    assert all(json.loads(d.plan)["subqueries"] for d in bank)


def test_nearest_demonstrations_from_chroma(tmp_path):
    client = ephemeral_client()
    bank = PlanDemonstrations.build(DATA, client=client)
    found = bank.nearest("Did Julius Caesar have more children than Genghis Khan?", k=2)
    assert len(found) == 2
    assert "Caesar" in found[-1][0] and "{q" in found[-1][1]
    assert PlanDemonstrations.open(client=client) is not None


async def test_a_passage_reaches_the_real_experts_not_the_planner(tmp_path, monkeypatch):
    """On the embedded models: the planner plans the question alone; every expert's input
    carries the passage, and the end point's answer is in the final answer."""
    from comp_llm_graph import build_graph, default_components
    from comp_llm_graph.answers.coverage import missing_parts

    components = default_components(persist_directory=tmp_path)
    components["demonstrations"] = None
    seen = []
    planner = components["planner"]
    original = type(planner).ainvoke

    async def spy(self, messages, *args, **kwargs):
        seen.append(messages[-1].content)
        return await original(self, messages, *args, **kwargs)

    passage = "Celoron's expedition of 1749 went from Lake Ontario to Lake Erie."
    query = f"Passage: {passage}\nQuestion: Which lake did Celoron's expedition reach first?"
    monkeypatch.setattr(type(planner), "ainvoke", spy)  # planner, experts and aggregator
    state = await build_graph(**components).ainvoke({"query": query})
    assert seen and seen[0] == "Which lake did Celoron's expedition reach first?"  # the planner
    assert any(text.startswith(f"Context:\n<<<\n{passage}\n>>>") for text in seen[1:])
    assert state["shared_context"] == passage
    assert state["plan"] and all(s["context"] == "shared" for s in state["plan"])
    assert all(a["answer"] for a in state["answers"].values())
    assert missing_parts(state["plan"], state["answers"], state["final_answer"]) == []


EASY = [("What is the capital of France? (A) Berlin (B) Paris (C) Madrid (D) Rome", "B"),
        ("Which planet is the largest? (A) Jupiter (B) Mars (C) Venus (D) Mercury", "A"),
        ("What is H2O? (A) Salt (B) Sugar (C) Oil (D) Water", "D"),
        ("Who wrote Romeo and Juliet? (A) Dickens (B) Tolstoy (C) Shakespeare (D) Homer", "C"),
        ("How many days are in a week? (A) Five (B) Seven (C) Ten (D) Twelve", "B"),
        ("Which animal barks? (A) Cat (B) Cow (C) Fish (D) Dog", "D")]


def _shifted(question: str) -> str:
    """`question` with its four options moved one place: (A) takes what (B) said, and so on."""
    stem, *options = re.split(r" \([A-D]\) ", question)
    options = options[1:] + options[:1]
    return stem + "".join(f" ({letter}) {text}" for letter, text in zip("ABCD", options, strict=True))


def test_rotating_the_options_removes_the_qwen_05b_letter_bias(tmp_path):
    """Qwen 0.5B read raw answers one letter whatever the question, so moving the options moves
    its answer; rotated, the answer is the same option in either order.

    One slot and no prompt cache, so a prompt's numbers do not depend on what else was batched
    with it. Accuracy is a benchmark's business (docs/models.md: MMLU val 0.300 rotated, 0.220 raw).
    """
    from comp_llm_graph.experts.cards import ExpertCard
    from comp_llm_graph.experts.llm_expert import llm_expert
    from comp_llm_graph.runtimes.llamacpp import local_chat_model

    chat = local_chat_model("qwen2.5-coder-0.5b", 8, max_batch_size=1, cache_prompt=False)
    picked = {}
    for scoring in ("letters-raw", "letters-rotated"):
        card = ExpertCard(name="generalist", description="General knowledge questions.",
                          examples=["Who painted the Mona Lisa?"], backend="llamacpp",
                          options={"choice_scoring": scoring})
        expert = llm_expert(card, chat)
        picked[scoring] = [(expert.invoke({"question": q, "context": ""}).content,
                            expert.invoke({"question": _shifted(q), "context": ""}).content)
                           for q, _ in EASY]
    raw_letters = {answer[1] for pair in picked["letters-raw"] for answer in pair}
    assert len(raw_letters) == 1, picked  # one letter whatever the question or order
    assert all(a[4:] != b[4:] for a, b in picked["letters-raw"]), picked  # so the option moves
    assert all(a[4:] == b[4:] for a, b in picked["letters-rotated"]), picked
    assert len({a[1] for a, _ in picked["letters-rotated"]}) > 1, picked


def test_the_15b_default_scoring_reads_the_letters():
    """The 1.5B's catalogue default: letters with the content-free prior subtracted."""
    from comp_llm_graph.experts.cards import ExpertCard
    from comp_llm_graph.experts.llm_expert import llm_expert
    from comp_llm_graph.runtimes.llamacpp import local_chat_model

    card = ExpertCard(name="generalist", description="General knowledge questions.",
                      examples=["Who painted the Mona Lisa?"], backend="llamacpp")
    expert = llm_expert(card, local_chat_model("qwen2.5-coder-1.5b", 8))
    replies = [expert.invoke({"question": q, "context": ""}) for q, _ in EASY]
    assert {r.response_metadata["answer_form"]["scoring"] for r in replies} == {"letters"}
    right = sum(r.content[1] == gold for r, (_, gold) in zip(replies, EASY, strict=True))
    assert right >= 5, [r.content for r in replies]
