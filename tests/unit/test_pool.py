"""The model pool: resident models within a memory budget, least recently used unloaded first."""

from __future__ import annotations

import threading
import time

import pytest

from comp_llm_graph.runtimes.pool import (
    MemoryBudgetError,
    ModelPool,
    threads_from_environment,
)


def test_pool_unloads_the_least_recently_used_idle_model_to_stay_in_budget():
    pool = ModelPool(budget_bytes=100)
    loads: list[str] = []

    def loader(name):
        return lambda: (loads.append(name) or name, None)

    for name in ["a", "b", "a", "c"]:
        with pool.use(name, loader(name), 45) as (model, _):
            assert model == name
            assert sum(pool.resident.values()) <= 100
    assert loads == ["a", "b", "c"]  # "a" was resident when used again
    assert set(pool.resident) == {"a", "c"}  # "b" was the least recently used
    assert pool.unloads["b"] == 1


def test_pool_refuses_a_model_larger_than_the_budget():
    pool = ModelPool(budget_bytes=10)
    with pytest.raises(MemoryBudgetError, match="more than the memory budget"):
        with pool.use("big", lambda: ("big", None), 11):
            pass


def test_pool_waits_for_a_busy_model_instead_of_exceeding_the_budget():
    pool = ModelPool(budget_bytes=100)
    resident_max: list[int] = []
    order: list[str] = []
    holding = threading.Event()

    def hold_a():
        with pool.use("a", lambda: ("a", None), 60):
            holding.set()
            time.sleep(0.3)
            order.append("a done")

    thread = threading.Thread(target=hold_a)
    thread.start()
    holding.wait()
    with pool.use("b", lambda: ("b", None), 60):
        order.append("b loaded")
        resident_max.append(sum(pool.resident.values()))
    thread.join()
    assert order == ["a done", "b loaded"]
    assert resident_max == [60]


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5", "100000"])
def test_a_bad_threads_variable_is_named(monkeypatch, value):
    monkeypatch.setenv("COMP_LLM_THREADS", value)
    with pytest.raises(ValueError, match="COMP_LLM_THREADS must be a whole number from 1 to 512"):
        threads_from_environment()
