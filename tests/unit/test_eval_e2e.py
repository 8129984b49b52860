"""End-to-end evaluation: question sets, letter extraction, QA scoring, the evaluator per mode."""

from __future__ import annotations

import asyncio
import csv
import json

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda

from comp_llm_graph import build_graph
from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.evaluation.e2e import e2e_markdown, e2e_records, e2e_summary, evaluate_e2e
from comp_llm_graph.evaluation.e2e_data import (
    MMLUPair,
    MMLUQuestion,
    MultiHopQuestion,
    mmlu_pairs,
    multihop_path,
    multihop_questions,
)
from comp_llm_graph.evaluation.scoring import extract_letters, normalize_answer, qa_scores
from tests.fakes import CARDS, DATA, fake_registry

MMLU = DATA / "mmlu"
CHOICES = [("Paris", "London", "Rome", "Berlin"), ("1", "2", "3", "4")]


# -- question sets -------------------------------------------------------------------------------


def test_mmlu_pairs_are_seeded_cross_domain_and_carry_both_questions():
    pairs = mmlu_pairs(MMLU, 20, seed=3)
    assert [p.id for p in pairs] == [p.id for p in mmlu_pairs(MMLU, 20, seed=3)]
    assert [p.id for p in pairs] != [p.id for p in mmlu_pairs(MMLU, 20, seed=4)]
    ids = [q.id for p in pairs for q in p.parts]
    assert len(set(ids)) == len(ids), "a question was used twice"
    for pair in pairs:
        first, second = pair.parts
        assert first.expert != second.expert
        assert len(first.text()) <= 300 and len(second.text()) <= 300
        assert pair.query.startswith(f"Part 1: {first.text()}\n\nPart 2: {second.text()}")
        for part in pair.parts:
            assert all(f"({letter}) {' '.join(c.split())}" in pair.query
                       for letter, c in zip("ABCD", part.choices, strict=True))
        assert [g["answer"] for g in pair.gold] == [first.answer, second.answer]


def _tiny_mmlu(tmp_path, questions: dict[str, list[list[str]]], groups: dict[str, str]):
    (tmp_path / "test").mkdir()
    (tmp_path / "subject_categories.json").write_text(json.dumps({"subjects": {
        s: {"subcategory": g, "category": "x"} for s, g in groups.items()}}))
    for subject, rows in questions.items():
        with (tmp_path / "test" / f"{subject}_test.csv").open("w", newline="") as f:
            csv.writer(f).writerows(rows)
    return tmp_path


def test_mmlu_pairs_never_pair_a_domain_with_itself(tmp_path):
    """Two subjects of one group and one of another: every pair crosses the groups."""
    row = ["What?", "a", "b", "c", "d", "B"]
    root = _tiny_mmlu(tmp_path, {"algebra": [row, row], "calculus": [row, row], "rivers": [row]},
                      {"algebra": "math", "calculus": "math", "rivers": "geography"})
    pair = mmlu_pairs(root, 1)[0]
    assert {q.expert for q in pair.parts} == {"math", "geography"}
    with pytest.raises(CompLLMError, match="only 1 MMLU pairs can be drawn"):
        mmlu_pairs(root, 2)


def test_mmlu_pairs_leave_out_long_questions(tmp_path):
    root = _tiny_mmlu(tmp_path, {"algebra": [["Short?", "1", "2", "3", "4", "A"]],
                                 "rivers": [["Long " * 80 + "?", "a", "b", "c", "d", "C"]]},
                      {"algebra": "math", "rivers": "geography"})
    with pytest.raises(CompLLMError):
        mmlu_pairs(root, 1, max_part_chars=100)
    assert len(mmlu_pairs(root, 1, max_part_chars=None)) == 1


def _write(tmp_path, name, records):
    path = tmp_path / name
    path.write_text(json.dumps(records))
    return path


def test_multihop_formats_aliases_and_unanswerable(tmp_path):
    musique = _write(tmp_path, "m.json", [
        {"id": "2hop__1", "question": "Who is the spouse of the Green performer?",
         "answer": "Miquette Giraudy", "answer_aliases": ["M. Giraudy"], "answerable": True},
        {"id": "2hop__2", "question": "Unanswerable?", "answer": "x", "answer_aliases": [],
         "answerable": False}])
    two_wiki = _write(tmp_path, "w.json", [{"_id": "abc", "question": "Which film came first?",
                                            "answer": "Taxi!", "evidences": []}])
    hotpot = _write(tmp_path, "h.json", [{"question": "Same nationality?", "answer": "yes"}])
    assert [(q.id, q.gold) for q in multihop_questions(musique)] == [
        ("2hop__1", ["Miquette Giraudy", "M. Giraudy"])]
    assert multihop_questions(two_wiki)[0].query == "Which film came first?"
    assert multihop_questions(hotpot)[0].id == "h:0"


def test_multihop_context_puts_supporting_or_all_paragraphs_in_the_query(tmp_path):
    record = {"_id": "x", "question": "Which state?", "answer": "Oregon",
              "supporting_facts": [["M. Ward", 0]],
              "context": [["M. Ward", ["Ward is from", "Portland, Oregon."]],
                          ["Distractor", ["Nothing here."]]]}
    path = _write(tmp_path, "h.json", [record])
    closed = multihop_questions(path)[0]
    supporting = multihop_questions(path, context="supporting")[0]
    everything = multihop_questions(path, context="all")[0]
    assert closed.query == "Which state?"
    assert supporting.paragraphs == ("M. Ward: Ward is from Portland, Oregon.",)
    assert supporting.query.endswith("\n\nQuestion: Which state?")
    assert "Distractor" not in supporting.query and "Distractor: Nothing here." in everything.query
    bare = _write(tmp_path, "bare.json", [{"question": "q?", "answer": "a"}])
    with pytest.raises(CompLLMError, match="record 0 has no paragraphs"):
        multihop_questions(bare, context="supporting")


def test_multihop_data_files_and_seeded_sample():
    path = multihop_path(DATA, "musique")
    assert len(multihop_questions(path)) == 2417
    sample = multihop_questions(path, 5, seed=1)
    assert [q.id for q in sample] == [q.id for q in multihop_questions(path, 5, seed=1)]
    assert all(q.answers and q.answers[0] for q in sample)
    assert multihop_path(DATA, "hotpotqa", context="all").name == "hotpotqa_train.json"
    with pytest.raises(CompLLMError, match="2wiki has no paragraphs"):
        multihop_path(DATA, "2wiki", context="supporting")
    with pytest.raises(CompLLMError, match="unknown multi-hop set"):
        multihop_path(DATA, "triviaqa")


# -- scoring -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "letters"), [
    ("Part 1: B\nPart 2: D", ["B", "D"]),
    ("Part 1: (b), Part 2: (d)", ["B", "D"]),
    ("(1) B (2) C", ["B", "C"]),
    ("1. B\n2. A", ["B", "A"]),
    ("Q1: A\nQ2: the answer is C", ["A", "C"]),
    ("Question 2: C. Question 1: D.", ["D", "C"]),
    ("The answer to the first question is B and the answer to the second question is (C).",
     ["B", "C"]),
    ("B, D", ["B", "D"]),
    ("Answer: B and D", ["B", "D"]),
    ("The answer is B.", [None, None]),  # one letter for two parts: which part is unknown
    ("Part 1: A man walks.\nPart 2: B", [None, "B"]),  # the article is not a letter
    ("Part 1: Paris\nPart 2: the result is 3", ["A", "C"]),  # the text of one choice
    ("Part 1: What is the capital? (A) Paris (B) London\nPart 1: C\nPart 2: A", ["C", "A"]),
    ("I do not know.", [None, None]),
])
def test_extract_letters(text, letters):
    assert extract_letters(text, CHOICES) == letters


def test_pair_scores_each_part():
    parts = tuple(MMLUQuestion(id=f"s/{i}", subject="s", expert=e, question="Q?",
                               choices=("w", "x", "y", "z"), answer=a)
                  for i, (e, a) in enumerate([("math", "B"), ("law", "D")]))
    pair = MMLUPair(parts=parts)
    assert pair.score("Part 1: B\nPart 2: D") == {
        "part_accuracy": 1.0, "both_correct": 1.0, "letters_found": 1.0, "letters": ["B", "D"]}
    assert pair.score("Part 1: B\nPart 2: A")["both_correct"] == 0.0
    assert pair.score("Part 1: B")["part_accuracy"] == 0.5
    assert pair.score("Part 1: B")["letters_found"] == 0.5


@pytest.mark.parametrize(("text", "normal"), [
    ("The Beatles!", "beatles"),
    ("  An   apple, a day ", "apple day"),
    ("St. Louis", "st louis"),
])
def test_normalize_answer(text, normal):
    assert normalize_answer(text) == normal


@pytest.mark.parametrize(("prediction", "golds", "scores"), [
    ("Miquette Giraudy", ["Miquette Giraudy"],
     {"exact": 1.0, "normalised": 1.0, "contains": 1.0, "f1": 1.0}),
    ("Final answer: the Miquette Giraudy.", ["Miquette Giraudy"],
     {"exact": 0.0, "normalised": 1.0, "contains": 1.0, "f1": 1.0}),
    ("He married Miquette Giraudy in 1980", ["Miquette Giraudy"],
     {"exact": 0.0, "normalised": 0.0, "contains": 1.0, "f1": 0.5}),
    ("Rome", ["for the conclave in Rome", "Rome"],
     {"exact": 1.0, "normalised": 1.0, "contains": 1.0, "f1": 1.0}),
    ("Romeo", ["Rome"], {"exact": 0.0, "normalised": 0.0, "contains": 0.0, "f1": 0.0}),
    ("", ["Rome"], {"exact": 0.0, "normalised": 0.0, "contains": 0.0, "f1": 0.0}),
])
def test_qa_scores(prediction, golds, scores):
    assert qa_scores(prediction, golds) == pytest.approx(scores)


# -- the evaluator -------------------------------------------------------------------------------

PAIR = MMLUPair(parts=(
    MMLUQuestion(id="geo/0", subject="geo", expert="geography", question="Capital of France?",
                 choices=CHOICES[0], answer="A"),
    MMLUQuestion(id="num/0", subject="num", expert="math", question="What is 1 plus 2?",
                 choices=CHOICES[1], answer="C")))
HOP = MultiHopQuestion(id="h1", question="Who is the spouse of the Green performer?",
                       answers=("Miquette Giraudy",))


class ScriptedGraph:
    """Stands in for a compiled graph: a state per (query, mode) from a script; logs calls."""

    def __init__(self, script):
        self.script, self.calls = script, []

    async def ainvoke(self, inputs, context=None, config=None):
        self.calls.append((inputs["query"], context.mode))
        outcome = self.script(inputs["query"], context.mode)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _state(final, *, expert_tokens=(), planner_tokens=(), aggregator_tokens=None):
    answers = {f"q{i}": {"id": f"q{i}", "answer": "x", "error": None,
                         **({"output_tokens": t} if t is not None else {})}
               for i, t in enumerate(expert_tokens, start=1)}
    attempts = [{"raw": "", "problems": [], "repairs": [], "accepted": True,
                 **({"output_tokens": t} if t is not None else {})} for t in planner_tokens]
    aggregation = {"method": "llm" if planner_tokens else "passthrough", "reason": None,
                   **({"output_tokens": aggregator_tokens} if aggregator_tokens else {})}
    return {"final_answer": final, "plan": [{"id": k} for k in answers], "answers": answers,
            "planning": {"status": "valid" if planner_tokens else "monolithic",
                         "attempts": attempts},
            "aggregation": aggregation}


async def test_evaluator_warms_up_interleaves_rotates_and_sums_per_mode():
    """Every mode on a question before the next; the first mode rotates; warm-up is unscored."""

    def script(query, mode):
        if mode == "monolithic":
            return _state("B", expert_tokens=[30])
        if query == HOP.query:
            return _state("It is Miquette Giraudy.", expert_tokens=[5, 6], planner_tokens=[10],
                          aggregator_tokens=4)
        return _state("Part 1: A\nPart 2: C", expert_tokens=[5, None], planner_tokens=[10, 12],
                      aggregator_tokens=4)

    graph, ticks = ScriptedGraph(script), []
    results = await evaluate_e2e(graph, {"pairs": [PAIR, PAIR], "hop": [HOP]},
                                 progress=ticks.append)
    modes = [mode for _, mode in graph.calls]
    assert modes[:3] == ["comp", "monolithic", "sequential"]  # warm-up, one run per mode
    assert modes[3:] == ["comp", "monolithic", "sequential", "monolithic", "sequential", "comp",
                         "sequential", "comp", "monolithic"]
    assert ticks == [1] * 9
    comp, mono = results["pairs"]["modes"]["comp"], results["pairs"]["modes"]["monolithic"]
    assert comp["part_accuracy"] == 1.0 and comp["both_correct"] == 1.0
    assert mono["part_accuracy"] == 0.0 and mono["letters_found"] == 0.0
    assert (comp["tokens_mean"], comp["expert_tokens_mean"], comp["planner_tokens_mean"],
            comp["aggregator_tokens_mean"]) == (31, 5, 22, 4)
    assert comp["calls_without_token_counts"] == 2  # one expert per question reported none
    assert (mono["tokens_mean"], mono["planner_tokens_mean"]) == (30, 0)
    assert comp["subqueries_mean"] == 2 and comp["planning"] == {"valid": 2}
    assert comp["n"] == 2 and comp["errors"] == 0 and comp["wall_s_mean"] >= 0
    hop = results["hop"]["modes"]
    assert hop["comp"]["contains"] == 1.0 and hop["comp"]["exact"] == 0.0
    assert hop["monolithic"]["f1"] == 0.0
    records = e2e_records(results)
    assert [(r["set"], r["id"]) for r in records] == [("pairs", PAIR.id), ("pairs", PAIR.id),
                                                      ("hop", "h1")]
    assert list(records[0]["modes"]) == ["comp", "monolithic", "sequential"]
    assert records[0]["modes"]["comp"]["scores"]["letters"] == ["A", "C"]
    assert records[2]["gold"] == ["Miquette Giraudy"]
    json.dumps(results)  # JSON-able as it is
    assert "records" not in e2e_summary(results)["pairs"]


async def test_a_failed_run_is_recorded_and_scored_wrong():
    def script(query, mode):
        return RuntimeError("endpoint down") if mode == "sequential" else _state(
            "Miquette Giraudy", expert_tokens=[3])

    results = await evaluate_e2e(ScriptedGraph(script), {"hop": [HOP]}, warmup=False,
                                 modes=["monolithic", "sequential"])
    sequential = results["hop"]["modes"]["sequential"]
    assert sequential["errors"] == 1 and sequential["exact"] == 0.0
    assert results["hop"]["records"][0]["modes"]["sequential"]["error"] == (
        "RuntimeError: endpoint down")
    assert results["hop"]["modes"]["monolithic"]["exact"] == 1.0


async def test_unknown_mode_is_refused():
    with pytest.raises(CompLLMError, match="modes must be some of"):
        await evaluate_e2e(ScriptedGraph(lambda q, m: {}), {"hop": [HOP]}, modes=["parallel"])


def _message(text: str, tokens: int) -> AIMessage:
    return AIMessage(content=text, usage_metadata={"input_tokens": 1, "output_tokens": tokens,
                                                   "total_tokens": tokens + 1})


async def test_tokens_of_planner_experts_and_aggregator_reach_the_results():
    """The real graph on fakes that report usage: each role's tokens are counted once."""
    plan = json.dumps({"subqueries": [
        {"id": "q1", "question": "What is the capital of France?", "depends_on": []},
        {"id": "q2", "question": "What is 1 plus 2?", "depends_on": []}]})

    async def expert(payload):
        await asyncio.sleep(0.25)
        return _message("an answer", 5)

    async def plan_model(messages):
        return _message(plan, 11)

    async def aggregate_model(messages):
        return _message("Part 1: A\nPart 2: C", 7)

    experts = {c.name: RunnableLambda(lambda p: None, afunc=expert) for c in CARDS}
    graph = build_graph(planner=RunnableLambda(lambda m: None, afunc=plan_model),
                        registry=fake_registry(experts),
                        aggregator=RunnableLambda(lambda m: None, afunc=aggregate_model))
    results = await evaluate_e2e(graph, {"pairs": [PAIR], "hop": [HOP]}, warmup=False,
                                 context={"aggregate": "llm"})
    modes, hop = results["pairs"]["modes"], results["hop"]["modes"]
    for mode in ("comp", "sequential"):
        assert (hop[mode]["tokens_mean"], hop[mode]["planner_tokens_mean"],
                hop[mode]["expert_tokens_mean"], hop[mode]["aggregator_tokens_mean"]) == (
            28, 11, 10, 7)
        # The pair's query numbers its parts: they are the plan, no planner call.
        assert (modes[mode]["tokens_mean"], modes[mode]["planner_tokens_mean"]) == (17, 0)
        assert modes[mode]["part_accuracy"] == 1.0
        assert modes[mode]["calls_without_token_counts"] == 0
    assert modes["monolithic"]["tokens_mean"] == 5
    assert modes["monolithic"]["part_accuracy"] == 0.0  # the expert's "an answer" has no letter
    # Two 0.25 s experts: side by side in comp, one after the other in sequential.
    assert modes["sequential"]["wall_s_mean"] >= 0.5
    assert modes["comp"]["wall_s_mean"] < modes["sequential"]["wall_s_mean"] - 0.1


def test_markdown_has_a_row_per_mode_and_the_chance_level():
    row = {"part_accuracy": 0.5, "both_correct": 0.25, "letters_found": 1.0, "wall_s_mean": 2.0,
           "wall_s_median": 1.5, "tokens_mean": 123.4, "subqueries_mean": 2.0, "errors": 0}
    comp = {**row, "part_coverage": 1.0, "part_coverage_min": 1.0}
    results = {"mmlu_pairs": {"n": 4, "metrics": ["part_accuracy", "both_correct",
                                                  "letters_found"],
                              "modes": {"comp": comp, "monolithic": row}, "records": []}}
    table = e2e_markdown(results, "E2E")
    assert ("| comp | 0.500 | 0.250 | 1.000 | 1.00 (min 1.00) | 2.00 | 1.50 | 123 | 2.00 | 0 |"
            in table)
    assert "| monolithic | 0.500 | 0.250 | 1.000 | - | 2.00 |" in table
    assert "| monolithic |" in table
    assert "Chance: part acc. 0.25, both right 0.0625." in table


# -- the real models -----------------------------------------------------------------------------
