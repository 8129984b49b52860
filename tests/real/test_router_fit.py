"""The learned router on the real components: MiniLM on onnxruntime, Chroma on disk, MMLU data.

Fits on MMLU dev (5 questions per subject, through a JSONL file as a user would give it), scores
on a sample of MMLU val, never on test. The full-size numbers (fit on dev+val, scored on 2,000
test questions) come from `comp-llm eval routing` and are in docs/measured.md.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from comp_llm_graph.cli import app
from comp_llm_graph.evaluation.data import mmlu_questions
from tests.fakes import DATA

pytestmark = pytest.mark.real
runner = CliRunner()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A cache folder holding a router fitted on MMLU dev, and the fit's JSON report."""
    folder = tmp_path_factory.mktemp("fitted")
    data = folder / "dev.jsonl"
    data.write_text("".join(
        json.dumps({"question": row.question, "expert": row.expert, "topic": row.topic}) + "\n"
        for row in mmlu_questions(DATA / "mmlu", ["dev"])))
    result = runner.invoke(app, ["experts", "fit", "--data", str(data), "--cache-dir",
                                 str(folder), "--json", str(folder / "fit.json")])
    assert result.exit_code == 0, result.output
    assert "before (similarity to the cards, on these questions)" in result.output
    return folder, json.loads((folder / "fit.json").read_text())["fit"]


def test_fit_reports_before_and_after(fitted):
    _, report = fitted
    subjects = report["topics"] - 17  # one topic per card (its own texts), the rest subjects
    assert report["rows"] == 5 * subjects  # MMLU dev: 5 questions per subject
    print(f"fit on MMLU dev: before {report['before']}, after {report['after']} (out of fold)")
    assert report["after"] > report["before"] + 0.05, report


def test_learned_router_beats_card_similarity_on_val(fitted, tmp_path):
    folder, _ = fitted
    scores = {}
    for router in ("learned", "similarity", "examples"):
        out = tmp_path / f"{router}.json"
        result = runner.invoke(app, ["eval", "routing", "--data", str(DATA / "mmlu"), "--split",
                                     "val", "--sample", "300", "--router", router,
                                     "--cache-dir", str(folder), "--json", str(out)])
        assert result.exit_code == 0, result.output
        doc = json.loads(out.read_text())["routing"]
        assert doc["router"] == router
        scores[router] = doc["mmlu_val"]["top1"]
    print(f"MMLU val top-1 after fitting on dev only: {scores}")
    assert scores["learned"] >= scores["similarity"] + 0.15, scores
    assert scores["learned"] >= scores["examples"], scores


def test_route_explains_with_the_nearest_labelled_questions(fitted):
    folder, _ = fitted
    result = runner.invoke(app, ["route", "--json", "--explain", "--cache-dir", str(folder),
                                 "Which river flows through Cairo, and what is its length?"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["router"] == "learned" and doc["expert"] == "geography"
    assert abs(sum(c["score"] for c in doc["candidates"]) - 1.0) < 0.5  # probabilities
    assert len(doc["examples"]) == 3
    assert all(0.0 < e["similarity"] <= 1.0 for e in doc["examples"])


def test_the_shipped_router_extended_to_an_added_card_routes_to_it(tmp_path):
    """The pack's learned router, extended to an `astronomy` card by its capability vector
    (real MiniLM features): astronomy questions go to it, others stay where they were."""
    import warnings

    from comp_llm_graph.experts import DEFAULT_PACK, ExpertRegistry, load_card
    from comp_llm_graph.experts.routing.router import RoutingChangedWarning

    pack = [load_card(path) for path in sorted(DEFAULT_PACK.glob("*.yaml"))]
    astronomy = load_card(DEFAULT_PACK / "physics.yaml").model_copy(update={
        "name": "astronomy", "source": None,
        "description": "Astronomy: stars, planets, galaxies, telescopes and cosmology.",
        "examples": ["Which planet has the largest moon in the solar system?",
                     "What is a light-year?", "Why do stars twinkle?",
                     "What is a red giant star?", "How many moons does Mars have?"]})
    registry = ExpertRegistry([*pack, astronomy], persist_directory=tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert registry.router.method == "learned"
    assert any(issubclass(w.category, RoutingChangedWarning) for w in caught)
    routes = registry.route(["What is the brightest star in the night sky?",
                             "What is the capital of Australia?"])
    assert [r.expert for r in routes] == ["astronomy", "geography"], routes
