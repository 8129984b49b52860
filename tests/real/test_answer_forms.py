"""Answer forms and the planner's demonstrations on the real model, MiniLM, Chroma and data."""

from __future__ import annotations

import json
import math

import pytest
from langchain_core.messages import HumanMessage
from tokenizers import Tokenizer

from comp_llm_graph.demonstrations import PlanDemonstrations, load_bank
from comp_llm_graph.evaluation.planning_gold import load_musique, load_strategyqa
from comp_llm_graph.experts import ExpertRegistry
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
    from comp_llm_graph.nodes.coverage import missing_parts

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
