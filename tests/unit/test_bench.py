"""`comp-llm bench` (evaluation/bench.py): the random DAGs and the scheduler and overhead parts."""

from __future__ import annotations

import json

from comp_llm_graph.scheduler import remaining_path


def test_random_dags_respect_the_suite_bounds():
    import random

    from comp_llm_graph.evaluation.bench import random_dag

    rng = random.Random(1)
    for k in range(50):
        items, latency = random_dag(rng, f"d{k}")
        ids = [item["id"] for item in items]
        assert 1 <= len(items) <= 12
        for position, item in enumerate(items):
            assert set(item["depends_on"]) <= set(ids[:position])
        plan = [{**item, "expert": ""} for item in items]
        levels = remaining_path(plan, {i: 1.0 for i in ids})
        assert 1 <= max(levels.values()) <= 5
        assert all(0.02 <= s <= 1.0 for s in latency.values())


def test_bench_scheduler_and_overhead_write_json_and_a_timeline(tmp_path):
    from typer.testing import CliRunner

    from comp_llm_graph.cli import app

    out = tmp_path / "bench.json"
    png = tmp_path / "timeline.png"
    result = CliRunner().invoke(app, ["bench", "scheduler", "overhead", "--dags", "3",
                                      "--json", str(out), "--timeline", str(png)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    for schedule in ("sequential", "waves", "start_as_ready"):
        assert doc["scheduler"][schedule]["median_ratio_to_critical_path"] >= 0.99
        assert doc["scheduler"][schedule]["worst_ratio_to_critical_path"] >= (
            doc["scheduler"][schedule]["median_ratio_to_critical_path"])
    assert len(doc["scheduler"]["dags"]) == 3
    assert doc["overhead"]["ms_per_subquery"] > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Scheduler suite: 3 random DAGs" in result.output
