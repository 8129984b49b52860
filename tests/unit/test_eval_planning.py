"""Planning evaluation: gold loaders on the shared data, plan scoring, the evaluator on fakes."""

from __future__ import annotations

import json

import pytest

from comp_llm_graph.context import Context
from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.evaluation.planning import (
    aevaluate_planning,
    evaluate_planning,
    has_parallel_branches,
    match_sub_queries,
    planning_markdown,
    score_plan,
    token_similarity,
)
from comp_llm_graph.evaluation.planning_gold import (
    DATASETS,
    GoldPlan,
    GoldStep,
    gold_plans,
    load_break,
    load_gsm8k,
    load_musique,
    load_strategyqa,
)
from comp_llm_graph.planning.plan import PlannedSubQuery
from tests.fakes import DATA, planner

CHAIN = GoldPlan("musique", "chain", "Who is the spouse of the Green performer?", (
    GoldStep("Green >> performer"),
    GoldStep("#1 >> spouse", (0,)),
))
PARALLEL = GoldPlan("strategyqa", "parallel", "Is Mount Fuji taller than the Sea of Japan is deep?", (
    GoldStep("How tall is Mount Fuji?"),
    GoldStep("What is the maximum depth of the Sea of Japan?"),
    GoldStep("Is #1 greater than #2?", (0, 1)),
))


def plan_json(*steps: tuple[str, list[str]]) -> str:
    """A planner output in the package's JSON plan format; ids q1, q2, ... in order."""
    return json.dumps({"subqueries": [{"id": f"q{k}", "question": question, "depends_on": deps}
                                      for k, (question, deps) in enumerate(steps, start=1)]})


PERFECT_CHAIN = plan_json(("Who performed the album Green?", []),
                          ("Who is the spouse of {q1}?", ["q1"]))
PERFECT_PARALLEL = plan_json(("How tall is Mount Fuji?", []),
                             ("What is the maximum depth of the Sea of Japan?", []),
                             ("Is {q1} greater than {q2}?", ["q1", "q2"]))


def subs(*steps: tuple[str, list[str]]) -> list[PlannedSubQuery]:
    return [PlannedSubQuery(f"q{k}", question, deps)
            for k, (question, deps) in enumerate(steps, start=1)]


# -- gold loaders on the shared data ---------------------------------------------------------------

@pytest.mark.parametrize(("name", "count"), [
    ("musique", 2417), ("strategyqa", 229), ("break", 3129), ("gsm8k", 1319),
])
def test_loaders_give_dags_whose_dependencies_point_to_earlier_steps(name, count):
    """Every gold step depends only on earlier steps, so each gold plan is a DAG in order."""
    plans = DATASETS[name](DATA / name)
    assert len(plans) == count  # break: one row skipped (a step refers to itself)
    for plan in plans:
        assert plan.dataset == name and plan.question.strip() and plan.steps
        for position, step in enumerate(plan.steps):
            assert step.text.strip()
            assert all(0 <= parent < position for parent in step.depends_on), plan.id
    assert any(step.depends_on for plan in plans for step in plan.steps)


def test_musique_gold_shapes_follow_the_id_prefix():
    """The `#k` references give the shapes SOURCE.md lists for each id prefix."""
    plans = {plan.id: plan for plan in load_musique(DATA / "musique")}
    first = plans["2hop__460946_294723"]
    assert [s.depends_on for s in first.steps] == [(), (0,)]
    shapes = {"3hop2": [(), (), (0, 1)], "4hop3": [(), (0,), (), (1, 2)]}
    for prefix, shape in shapes.items():
        for plan in (p for p in plans.values() if p.id.startswith(prefix + "__")):
            assert [s.depends_on for s in plan.steps] == shape, plan.id


def test_strategyqa_and_break_read_hash_references():
    strategy = load_strategyqa(DATA / "strategyqa")
    assert strategy[0].steps[-1] == GoldStep("Is #3 smaller than #4?", (2, 3))
    assert strategy[0].steps[2].depends_on == (0,)
    rows = {plan.id: plan for plan in load_break(DATA / "break")}
    # Its last step refers to itself (#3 of 3): skipped rather than guessed.
    assert not any(i.startswith("DROP_dev_history_2086_ae4f0fc9") for i in rows)
    cwq = rows["CWQ_dev_WebQTest-1036_0b5333d98ef87008aa02d1fbc1554b05"]
    assert [s.depends_on for s in cwq.steps] == [(), (0,)]


def test_gsm8k_dependencies_come_from_the_numbers_each_step_uses():
    """House flipping: cost and value increase are independent; the profit needs both branches."""
    house = load_gsm8k(DATA / "gsm8k")[2]
    assert house.question.startswith("Josh decides to try flipping a house")
    assert [s.text for s in house.steps][0] == "How much did the house cost?"
    assert [s.depends_on for s in house.steps] == [(), (), (1,), (0, 2)]
    assert has_parallel_branches([s.depends_on for s in house.steps])


def test_gsm8k_number_used_twice_links_two_producers_and_algebra_steps_chain():
    plans = load_gsm8k(DATA / "gsm8k")
    # Bottom and middle shelves both hold 20; "20 + 20 + 15" needs both of them and the top.
    elly = next(p for p in plans if p.question.startswith("Elly is organizing her books"))
    assert [s.depends_on for s in elly.steps][3:] == [(0, 1, 2), (3,)]
    # "Define a variable", "Write an equation", "Simplify": no numbers to follow, so a chain.
    coins = plans[33]
    assert coins.steps[0].text == "Define a variable"
    assert [s.depends_on for s in coins.steps] == [(), (0,), (1,), (2,), (3,), (4,)]


def test_samples_are_fixed_by_the_seed_and_per_dataset():
    first = gold_plans(DATA, sample=3, seed=7)
    assert [p.id for p in first] == [p.id for p in gold_plans(DATA, sample=3, seed=7)]
    assert [p.dataset for p in first] == [name for name in DATASETS for _ in range(3)]
    assert [p.id for p in first] != [p.id for p in gold_plans(DATA, sample=3, seed=8)]


def test_unknown_dataset_and_missing_folder_are_named(tmp_path):
    with pytest.raises(CompLLMError, match="unknown dataset hotpot"):
        gold_plans(DATA, ["hotpot"])
    with pytest.raises(CompLLMError, match="dev.json"):
        load_musique(tmp_path)


# -- scoring one plan ------------------------------------------------------------------------------

def test_token_similarity_reads_any_reference_as_the_same_word():
    assert token_similarity("#1 >> spouse", "Who is the spouse of {q1}?") == 1.0
    assert token_similarity("Green >> performer", "Who performed the album Green?") == 0.8
    assert token_similarity("Is #3 smaller than #4?", "Is {q1} more than {q2}?") > (
        token_similarity("Is #3 smaller than #4?", "Who is {q1}?"))
    assert token_similarity("How tall is it?", "Where was Kant born?") == 0.0


def test_matching_is_one_to_one_and_leaves_dissimilar_pairs_unmatched():
    predicted = ["What is the maximum depth of the Sea of Japan?", "How tall is Mount Fuji?",
                 "What colour are bananas?"]
    gold = [s.text for s in PARALLEL.steps]
    assert [(p, g) for p, g, _ in match_sub_queries(predicted, gold)] == [(0, 1), (1, 0)]


def test_has_parallel_branches():
    assert not has_parallel_branches([(), (0,), (1,)])  # chain
    assert not has_parallel_branches([()])
    assert has_parallel_branches([(), (), (0, 1)])  # two roots
    assert has_parallel_branches([(), (0,), (0,), (1, 2)])  # diamond
    assert not has_parallel_branches([(), (0,), (0, 1)])  # chain with a shortcut


def test_score_perfect_plan():
    score = score_plan(PARALLEL, subs(("How tall is Mount Fuji?", []),
                                      ("What is the maximum depth of the Sea of Japan?", []),
                                      ("Is {q1} greater than {q2}?", ["q1", "q2"])))
    assert (score.predicted, score.gold, score.matched) == (3, 3, 3)
    assert (score.edges_correct, score.edges_predicted, score.edges_gold) == (2, 2, 2)
    assert score.gold_parallel and score.predicted_parallel


def test_score_edge_through_an_unmatched_node_is_wrong():
    """The plan's first step matches nothing, so its edge is wrong and the gold edge is missed."""
    score = score_plan(CHAIN, subs(("What colour are bananas?", []),
                                   ("Who is the spouse of {q1}?", ["q1"])))
    assert score.matched == 1
    assert (score.edges_correct, score.edges_predicted, score.edges_gold) == (0, 1, 1)


def test_score_edge_reversed_is_wrong():
    score = score_plan(CHAIN, subs(("Who is the spouse of Steve Hillage?", []),
                                   ("Who performed the album Green?", ["q1"])))
    assert score.matched == 2 and score.edges_correct == 0


# -- the evaluator on a fake planner ---------------------------------------------------------------

def test_perfect_plans_score_edge_f1_one_and_count_error_zero():
    outputs = {CHAIN.question: PERFECT_CHAIN, PARALLEL.question: PERFECT_PARALLEL}
    fake = planner(outputs[CHAIN.question], outputs[PARALLEL.question])
    results = evaluate_planning(fake, [CHAIN, PARALLEL])
    assert results["n"] == 2
    assert results["valid_plan_rate"] == 1.0 and results["valid_as_generated_rate"] == 1.0
    assert results["edge_f1"] == 1.0 and results["count_mae"] == 0.0
    assert results["parallel_share"] == 1.0 and results["false_parallel_rate"] == 0.0
    assert results["datasets"]["musique"]["n"] == 1
    assert results["datasets"]["strategyqa"]["edge_f1"] == 1.0
    assert results["multi_step_share"] == 1.0 and results["dependency_share"] == 1.0


def test_missing_edge_lowers_recall_not_precision():
    plan = plan_json(("How tall is Mount Fuji?", []),
                     ("What is the maximum depth of the Sea of Japan?", []),
                     ("Is {q1} greater than the depth?", ["q1"]))
    results = evaluate_planning(planner(plan), [PARALLEL])
    assert results["edge_precision"] == 1.0 and results["edge_recall"] == 0.5
    assert results["edge_f1"] == 0.6667
    assert results["parallel_share"] == 1.0  # q1 and q2 are still independent


def test_edges_are_micro_averaged_over_examples():
    """1 of 1 edge right on the chain, 0 of 2 on the parallel gold: 1/3 overall, not the mean."""
    chain_as_parallel = plan_json(("How tall is Mount Fuji?", []),
                                  ("What is the maximum depth of the Sea of Japan?", []),
                                  ("Is one greater than the other?", []))
    results = evaluate_planning(planner(PERFECT_CHAIN, chain_as_parallel), [CHAIN, PARALLEL])
    assert results["edge_precision"] == 1.0 and results["edge_recall"] == pytest.approx(1 / 3, 1e-3)
    assert results["edge_f1"] == 0.5
    assert results["edge_f1_dataset_mean"] == 0.5  # (1.0 + 0.0) / 2; strategyqa F1 is 0


def test_chain_plan_for_parallel_gold_and_parallel_plan_for_chain_gold():
    chain_for_parallel = plan_json(("How tall is Mount Fuji?", []),
                                   ("What is the depth of the Sea of Japan, compared to {q1}?",
                                    ["q1"]),
                                   ("Is {q1} greater than {q2}?", ["q1", "q2"]))
    parallel_for_chain = plan_json(("Who performed the album Green?", []),
                                   ("Who are spouses of musicians?", []))
    results = evaluate_planning(planner(parallel_for_chain, chain_for_parallel), [CHAIN, PARALLEL])
    assert results["gold_parallel"] == 1
    assert results["parallel_share"] == 0.0
    assert results["false_parallel_rate"] == 1.0


def test_unparseable_plans_fall_back_and_count_as_invalid():
    """Two outputs with no plan in them: the query runs as one sub-query (fallback)."""
    results = evaluate_planning(planner("I cannot do that."), [PARALLEL], keep_examples=True)
    assert results["valid_plan_rate"] == 0.0 and results["status"]["fallback"] == 1.0
    assert results["count_mean_error"] == -2.0 and results["count_mae"] == 2.0
    assert results["edge_f1"] == 0.0 and results["edge_precision"] is None
    assert results["edge_recall"] == 0.0 and results["parallel_share"] == 0.0
    assert results["multi_step_share"] == 0.0 and results["dependency_share"] == 0.0
    record = results["examples"][0]
    assert record["status"] == "fallback" and len(record["raw"]) == 2
    assert record["plan"] == [{"id": "q1", "question": PARALLEL.question, "depends_on": []}]


def test_replanned_plan_is_valid_but_not_valid_as_generated():
    results = evaluate_planning(planner("no plan here", PERFECT_CHAIN), [CHAIN])
    assert results["valid_plan_rate"] == 1.0 and results["valid_as_generated_rate"] == 0.0
    assert results["status"]["replanned"] == 1.0 and results["edge_f1"] == 1.0


def test_repaired_plan_is_valid_and_its_repairs_are_counted():
    repeated = plan_json(("Who performed the album Green?", []),
                         ("Who performed the album Green?", []),
                         ("Who is the spouse of {q2}?", ["q2"]))
    results = evaluate_planning(planner(repeated), [CHAIN])
    assert results["status"]["repaired"] == 1.0 and results["valid_plan_rate"] == 1.0
    assert results["valid_as_generated_rate"] == 0.0 and results["repairs"] == {"repeat": 1}
    assert results["count_mae"] == 0.0 and results["edge_f1"] == 1.0  # q2 merged into q1


async def test_progress_is_called_per_plan_and_context_limits_plan_size():
    """With max_subqueries=2 the three-step plan is too large twice over: fallback."""
    calls: list[int] = []
    results = await aevaluate_planning(planner(PERFECT_PARALLEL), [PARALLEL, PARALLEL],
                                       context=Context(max_subqueries=2), concurrency=2,
                                       progress=calls.append)
    assert calls == [1, 1]
    assert results["max_subqueries"] == 2 and results["valid_plan_rate"] == 0.0


def test_markdown_has_a_row_per_dataset_and_one_for_all():
    results = evaluate_planning(planner(PERFECT_CHAIN, "nothing", "nothing"), [CHAIN, PARALLEL])
    table = planning_markdown(results, "Planning")
    assert table.startswith("### Planning")
    assert "| musique | 1 | 1.00 | 1.00 | 0.00 | +0.00 |" in table
    assert "| strategyqa | 1 | 0.00 |" in table
    assert "| **all** | 2 | 0.50 |" in table
    json.dumps(results)  # the CLI writes it as JSON


def test_no_examples_is_an_error():
    with pytest.raises(ValueError, match="no examples"):
        evaluate_planning(planner(PERFECT_CHAIN), [])


# -- the real planner ------------------------------------------------------------------------------
