"""Expert replicas on OpenAI-compatible servers on 127.0.0.1: spread, limits, failover, timeouts."""

from __future__ import annotations

import asyncio
import time

import pytest

from comp_llm_graph.evaluation.fleet import fleet_servers, free_ports
from comp_llm_graph.runtimes.openai_compat import OpenAIOptions
from comp_llm_graph.runtimes.replicas import ReplicasFailedError

pytestmark = pytest.mark.real
ASK = "Say something. [tokens=25]"  # 25 tokens x 4 ms = 0.1 s on the server


def _pool(ports, **endpoint):
    return OpenAIOptions(model="fleet", endpoints=[
        {"base_url": f"http://127.0.0.1:{p}/v1", **endpoint} for p in ports]).chat_model()


async def _many(pool, n: int) -> list:
    return await asyncio.gather(*(pool.ainvoke(ASK) for _ in range(n)))


def test_calls_spread_over_replicas_within_their_limits():
    ports = free_ports(2)
    with fleet_servers(ports, per_token_ms=4.0, slots=4):
        pool = _pool(ports, max_concurrency=1)
        asyncio.run(_many(pool, 1))  # connects once
        started = time.perf_counter()
        replies = asyncio.run(_many(pool, 8))
        wall = time.perf_counter() - started
    counts = {name: stats["calls"] for name, stats in pool.stats().items()}
    assert sorted(counts.values()) == [4, 5]  # 8 calls (and the first) split evenly
    assert {r.response_metadata["replica"] for r in replies} == set(counts)
    assert wall >= 0.38  # one at a time per replica: 4 rounds of 0.1 s, although servers had 4 slots
    assert all(r.content.split() == ["word"] * 25 for r in replies)


def test_a_failing_replica_is_retried_elsewhere_and_reported():
    ok, failing = free_ports(2)
    with fleet_servers([ok], failing=[failing], per_token_ms=1.0):
        pool = _pool([failing, ok])
        replies = asyncio.run(_many(pool, 4))
    assert all(r.response_metadata["replica"].endswith(f":{ok}/v1") for r in replies)
    errors = [e for r in replies for e in r.response_metadata.get("replica_errors", [])]
    assert errors and all(f":{failing}/v1" in e["replica"] and "500" in e["error"]
                          for e in errors)
    assert pool.stats()[f"http://127.0.0.1:{failing}/v1"]["failures"] == len(errors)


def test_a_replica_past_its_timeout_is_retried_elsewhere():
    ok, hanging = free_ports(2)
    with fleet_servers([ok], hanging=[hanging], per_token_ms=1.0):
        pool = _pool([hanging, ok], timeout=0.5)
        reply = asyncio.run(pool.ainvoke(ASK))
        assert reply.response_metadata["replica"].endswith(f":{ok}/v1")
        assert pool.stats()[f"http://127.0.0.1:{hanging}/v1"]["timeouts"] == 1  # tried first (least loaded, in order)
        both = _pool([hanging], timeout=0.3)
        with pytest.raises(ReplicasFailedError, match="no reply within 0.3 s"):
            asyncio.run(both.ainvoke(ASK))
