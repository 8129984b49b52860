"""The batcher: concurrent generation calls gathered into batches; a grammar call runs alone."""

from __future__ import annotations

import asyncio
import time

from comp_llm_graph.runtimes.batching import Batcher, Generation, Request


def fake_batch_runner(sizes: list[int], seconds: float = 0.1):
    def run(batch: list[Request]) -> list[Generation]:
        sizes.append(len(batch))
        time.sleep(seconds)
        return [Generation(r.chat[-1]["content"].upper(), 1, 1, len(batch)) for r in batch]

    return run


def request(text: str, grammar: str | None = None) -> Request:
    return Request([{"role": "user", "content": text}], 8, None, grammar)


async def test_concurrent_calls_are_generated_in_one_batch():
    sizes: list[int] = []
    batcher = Batcher(fake_batch_runner(sizes), max_batch_size=8)
    futures = [asyncio.wrap_future(batcher.submit(request(f"q{i}"))) for i in range(4)]
    results = await asyncio.gather(*futures)
    assert [r.text for r in results] == ["Q0", "Q1", "Q2", "Q3"]
    assert sizes == [4]
    assert {r.batch_size for r in results} == {4}


async def test_calls_arriving_during_a_batch_form_the_next_one_and_grammar_runs_alone():
    sizes: list[int] = []
    batcher = Batcher(fake_batch_runner(sizes, 0.2), max_batch_size=3)
    first = batcher.submit(request("a"))
    await asyncio.sleep(0.05)  # the first batch is running
    later = [batcher.submit(request(t)) for t in ("b", "c", "d", "e")]
    constrained = batcher.submit(request("plan", grammar="root ::= \"x\""))
    await asyncio.gather(*(asyncio.wrap_future(f) for f in [first, *later, constrained]))
    assert sizes[0] == 1
    assert sorted(sizes[1:]) == [1, 1, 3]  # b, c, d together; e; the constrained call alone
    assert constrained.result().batch_size == 1


async def test_batch_size_one_runs_calls_one_by_one():
    sizes: list[int] = []
    batcher = Batcher(fake_batch_runner(sizes, 0.01), max_batch_size=1)
    await asyncio.gather(*(asyncio.wrap_future(batcher.submit(request(str(i))))
                           for i in range(3)))
    assert sizes == [1, 1, 1]
