"""Two models resident at once: two calls each, all together vs one after another vs in turn.

Each model is its own llama.cpp server in this process (continuous batching inside each); this
measures what running both at once costs or gains on this machine's cores.

    .venv/bin/python benchmarks/two_models.py [MODEL_A MODEL_B]
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor

from comp_llm_graph.runtimes.llamacpp import local_chat_model
from comp_llm_graph.runtimes.pool import MODEL_POOL

QUESTIONS = ["Name three uses of a hash table.", "Explain what a linked list is."]


def main() -> None:
    names = sys.argv[1:3] or ["smollm2-135m", "qwen2.5-coder-0.5b"]
    models = [local_chat_model(name, 64) for name in names]
    calls = [(model, question) for model in models for question in QUESTIONS]
    for model in models:  # load and warm each once
        model.invoke([("human", "Hello")])

    def call(item):
        model, question = item
        reply = model.invoke([("human", question)])
        return reply.usage_metadata["output_tokens"]

    started = time.perf_counter()
    tokens = [call(item) for item in calls]
    sequential = time.perf_counter() - started
    started = time.perf_counter()
    with ThreadPoolExecutor(len(calls)) as pool:
        together_tokens = list(pool.map(call, calls))
    together = time.perf_counter() - started
    started = time.perf_counter()
    for model in models:  # each model's calls batched, one model at a time
        with ThreadPoolExecutor(len(QUESTIONS)) as pool:
            list(pool.map(call, [(model, question) for question in QUESTIONS]))
    in_turn = time.perf_counter() - started
    print(f"models: {', '.join(names)} (resident: {len(MODEL_POOL.resident)})")
    print(f"one after another: {sequential:.2f} s ({sum(tokens)} tokens)")
    print(f"all four together: {together:.2f} s ({sum(together_tokens)} tokens)")
    print(f"each model's two together, one model at a time: {in_turn:.2f} s")
    print(f"together / one after another: {together / sequential:.2f}; "
          f"together / in turn: {together / in_turn:.2f}")


if __name__ == "__main__":
    main()
