"""The llama.cpp engine's decoding speed, alone and with other processes busy on the cores.

For each setting (OpenMP wait policy, threads per model) a fresh process loads the embedded
SmolLM2 (the engine's default format) and generates 3 answers of 64 tokens, while 0, 1 or 2
background processes spin on the CPU (each stops by itself after 120 s). Prints tokens/s
(prompt processing included).

    python benchmarks/engine_threads.py --json docs/engine_threads.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

WORKER = """
import json, os, sys, time
from langchain_core.messages import HumanMessage, SystemMessage
from comp_llm_graph.runtimes.llamacpp import smollm2
from comp_llm_graph.runtimes.pool import configure
configure(threads=int(sys.argv[1]))
model = smollm2(64, max_batch_size=1, cache_prompt=False)
messages = [SystemMessage("You are a helpful assistant."),
            HumanMessage("Write a long story about a dragon.")]
model.invoke(messages)
began, tokens = time.perf_counter(), 0
for _ in range(3):
    tokens += model.invoke(messages).usage_metadata["output_tokens"]
print(json.dumps({"tokens_per_s": tokens / (time.perf_counter() - began)}))
"""
BURN = "import time\nend = time.time() + 120\nwhile time.time() < end: pass\n"
SETTINGS = [("PASSIVE", 2), ("ACTIVE", 2), ("PASSIVE", 1)]


def measure(policy: str, threads: int, load: int) -> float:
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(load)]
    try:
        time.sleep(0.5)
        env = {**os.environ, "OMP_WAIT_POLICY": policy}
        out = subprocess.run([sys.executable, "-c", WORKER, str(threads)], env=env, check=True,
                             capture_output=True, text=True, timeout=600).stdout
        return json.loads(out.strip().splitlines()[-1])["tokens_per_s"]
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    print("| OMP_WAIT_POLICY | threads | alone | 1 busy process | 2 busy processes |")
    print("|---|---|---|---|---|")
    for policy, threads in SETTINGS:
        rates = [round(measure(policy, threads, load), 1) for load in (0, 1, 2)]
        rows.append({"policy": policy, "threads": threads, "tokens_per_s": rates})
        print(f"| {policy} | {threads} | {rates[0]} | {rates[1]} | {rates[2]} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
