"""Which weight format the llama.cpp engine should run SmolLM2 in: right answers and speed.

The shipped GGUF (Q4_1) is re-encoded in each format (`comp_llm_graph.runtimes.gguf_file`), and
each copy answers the same 20 simple factual and arithmetic questions, greedily, with and
without a system prompt (40 answers). The transformers path (fp32, de-quantised from the same
file) is the reference. An answer is right when it contains the expected word or number.

    python benchmarks/weight_formats.py --json docs/weight_formats.json
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

from langchain_core.messages import HumanMessage, SystemMessage

QUESTIONS = [
    ("What is the capital of France?", r"paris"),
    ("What is the capital of Japan?", r"tokyo"),
    ("What is the capital of Italy?", r"rome"),
    ("Who wrote Romeo and Juliet?", r"shakespeare"),
    ("What is the largest planet in the solar system?", r"jupiter"),
    ("What is the chemical formula of water?", r"h2o|h₂o"),
    ("How many days are in a week?", r"\b(7|seven)\b"),
    ("What color is the sky on a clear day?", r"blue"),
    ("What is the boiling point of water in Celsius?", r"\b100\b"),
    ("Who painted the Mona Lisa?", r"leonardo|vinci"),
    ("What is 2 plus 2?", r"\b(4|four)\b"),
    ("What is 10 minus 3?", r"\b(7|seven)\b"),
    ("What is 5 times 6?", r"\b(30|thirty)\b"),
    ("How many legs does a spider have?", r"\b(8|eight)\b"),
    ("What is the freezing point of water in Celsius?", r"\b(0|zero)\b"),
    ("Which planet do we live on?", r"earth"),
    ("What is the largest ocean on Earth?", r"pacific"),
    ("How many continents are there?", r"\b(7|seven)\b"),
    ("What gas do plants take in from the air?", r"carbon dioxide|co2"),
    ("What is 100 divided by 4?", r"\b25\b"),
]
SYSTEM = "You are a helpful assistant. Answer in one short sentence."
FORMATS = ("F16", "Q8_0", "Q5_0", "Q4_0", "Q4_1")


def ask_all(model) -> dict:
    rows, prompt_ms, prompt_n, gen_ms, gen_n = [], 0.0, 0, 0.0, 0
    for system in (True, False):
        for question, pattern in QUESTIONS:
            messages = ([SystemMessage(SYSTEM)] if system else []) + [HumanMessage(question)]
            message = model.invoke(messages)
            rows.append({"question": question, "system_prompt": system,
                         "answer": message.content,
                         "right": bool(re.search(pattern, message.content.lower()))})
            timings = message.response_metadata.get("timings") or {}
            prompt_ms += timings.get("prompt_ms", 0.0)
            prompt_n += timings.get("prompt_n", 0)
            gen_ms += timings.get("predicted_ms", 0.0)
            gen_n += timings.get("predicted_n", 0)
    return {"right_with_system": sum(r["right"] for r in rows if r["system_prompt"]),
            "right_without_system": sum(r["right"] for r in rows if not r["system_prompt"]),
            "prompt_tokens_per_s": round(1000 * prompt_n / prompt_ms, 1) if prompt_ms else None,
            "generation_tokens_per_s": round(1000 * gen_n / gen_ms, 1) if gen_ms else None,
            "answers": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the transformers fp32 reference (slow)")
    args = parser.parse_args()

    from comp_llm_graph.runtimes.gguf_file import convert_gguf
    from comp_llm_graph.runtimes.llamacpp import LlamaCppChatModel
    from comp_llm_graph.runtimes.weights import SMOLLM2_GGUF, smollm2_path

    shipped = smollm2_path() / SMOLLM2_GGUF
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as folder:
        for fmt in ("shipped", *FORMATS):
            path = shipped
            convert_s = 0.0
            if fmt != "shipped":
                began = time.perf_counter()
                path = convert_gguf(shipped, Path(folder) / f"smollm2.{fmt}.gguf", fmt)
                convert_s = time.perf_counter() - began
            model = LlamaCppChatModel(model_path=str(path), weight_format=None,
                                      max_new_tokens=48, max_batch_size=1, cache_prompt=False)
            results[f"{fmt} (Q4_1 file)" if fmt == "shipped" else fmt] = {
                **ask_all(model), "convert_s": round(convert_s, 2),
                "file_mb": round(path.stat().st_size / 2**20, 1)}
    if not args.no_reference:
        from comp_llm_graph.runtimes.local import smollm2_transformers

        results["transformers fp32 (reference)"] = ask_all(smollm2_transformers(48))
    reference = results.get("transformers fp32 (reference)")
    print("| weights | right (system prompt) | right (none) | same verdicts as fp32 | "
          "prompt tokens/s | generation tokens/s | file MB | made in s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, row in results.items():
        same = (sum(a["right"] == b["right"] for a, b in zip(row["answers"],
                                                             reference["answers"], strict=True))
                if reference else None)
        row["same_verdicts_as_reference"] = same
        print(f"| {name} | {row['right_with_system']}/20 | {row['right_without_system']}/20 | "
              f"{same if same is not None else '-'}/40 | {row.get('prompt_tokens_per_s') or '-'} | "
              f"{row.get('generation_tokens_per_s') or '-'} | {row.get('file_mb', '-')} | "
              f"{row.get('convert_s', '-')} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
