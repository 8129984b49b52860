"""Shared fakes for unit tests: a keyword embedding, scripted chat models, slow experts, a registry.

Also the few helpers real-component tests share (the data folder, stopping a server they started).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO

import chromadb
from chromadb.config import Settings
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.runnables import Runnable, RunnableLambda

from comp_llm_graph.experts import ExpertCard, ExpertRegistry

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


class KeywordEmbeddings(Embeddings):
    """Bag of words hashed into 256 dimensions: texts sharing words are similar."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    @staticmethod
    def _vector(text: str) -> list[float]:
        vec = [0.0] * 256
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            if len(word) > 2:
                vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % 256] += 1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(len(texts))
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


def card(name: str, description: str, examples: list[str], backend: str = "smollm2") -> ExpertCard:
    return ExpertCard(name=name, description=description, examples=examples, backend=backend,
                      system_prompt=f"You are {name}.")


CARDS = [
    card("geography", "countries capitals cities rivers mountains", ["What is the capital of Peru?"]),
    card("math", "arithmetic numbers sums products equations", ["What is 3 plus 4?"]),
    card("history", "wars empires kings dates events", ["When did the empire fall?"]),
    card("generalist", "general knowledge anything else", ["Tell me something."]),
]


def slow_expert(name: str, seconds: float, calls: list[str] | None = None,
                answer: Callable[[dict], str] | None = None) -> Runnable:
    """An async expert that sleeps, then answers `<name>: <question>`."""

    async def run(payload: dict) -> str:
        if calls is not None:
            calls.append(payload["question"])
        await asyncio.sleep(seconds)
        return answer(payload) if answer else f"{name}: {payload['question']}"

    return RunnableLambda(lambda p: asyncio.run(run(p)), afunc=run, name=name)


def stop_server(process: subprocess.Popen, log: IO) -> None:
    """Stop a server started by a test (terminate, then kill after 20 s) and close its log."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def ephemeral_client() -> chromadb.ClientAPI:
    return chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))


def fake_registry(experts: dict[str, Runnable] | None = None, **kwargs) -> ExpertRegistry:
    experts = experts or {c.name: slow_expert(c.name, 0.0) for c in CARDS}
    kwargs.setdefault("embeddings", KeywordEmbeddings())
    kwargs.setdefault("client", ephemeral_client())
    kwargs.setdefault("collection_name", f"test_{uuid.uuid4().hex[:12]}")
    return ExpertRegistry(CARDS, experts=experts, **kwargs)


def planner(*outputs: str) -> FakeListChatModel:
    """A planner that returns the given outputs in turn (streamed character by character, so
    early starts read it as it is written)."""
    return FakeListChatModel(responses=list(outputs))


def whole_planner(*outputs: str) -> FakeListChatModel:
    """A planner that gives each output whole at the end: nothing starts before the plan is
    final (tests of the executor's own scheduling, and of breakpoints before it)."""
    return FakeListChatModel(responses=list(outputs), disable_streaming=True)


class PiecewisePlanner(FakeListChatModel):
    """A planner that reports its text to the callbacks in pieces as it "generates" (one piece
    per sub-query, `pause` seconds apart), as a model that does not stream but reports its
    tokens does (the llama.cpp planner)."""

    disable_streaming: bool = True
    pause: float = 0.05
    finished_at: list[float] = []
    """When each call returned (time.time())."""

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
        import time

        from langchain_core.messages import AIMessage
        from langchain_core.outputs import ChatGeneration, ChatResult

        text = self.responses[self.i % len(self.responses)]
        self.i += 1
        lines = not text.lstrip().startswith("{")  # the line format: one piece per line
        pieces = text.splitlines(keepends=True) if lines else re.split(r"(?<=\}), ", text)
        for piece in pieces:
            if run_manager is not None:
                await run_manager.on_llm_new_token(piece if lines else piece + ", ")
            await asyncio.sleep(self.pause)
        self.finished_at.append(time.time())
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])
