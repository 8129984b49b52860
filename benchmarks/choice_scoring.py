"""How an expert scores a multiple-choice question, per model: MMLU val, the pack's own experts.

    .venv/bin/python benchmarks/choice_scoring.py 200 [--json docs/choice_scoring.json]

N MMLU *val* questions (shuffled, seed 0; the profiles and checks use MMLU test), each asked to
the default pack's expert of its subject group (`generalist` for the "other" group) through
`experts/llm_expert.py` as the graph runs it, with each `options.choice_scoring`:

- `options`: each option's text scored as the answer to the stem (one request per option);
- `letters-raw`: the options shown, one request, the letter read from the first token;
- `letters`: the same divided by the model's content-free letter distribution.

Prints accuracy, the share of answers per letter (gold is close to uniform) and seconds per
question for every model and method; `docs/models.md` shows the result.
"""
import argparse
import asyncio
import collections
import csv
import json
import random
import statistics
import time
from pathlib import Path

from comp_llm_graph.evaluation.data import mmlu_subjects
from comp_llm_graph.experts.cards import DEFAULT_PACK, load_cards
from comp_llm_graph.experts.llm_expert import CHOICE_SCORING, llm_expert
from comp_llm_graph.runtimes.llamacpp import local_chat_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mmlu"
MODELS = ("smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")


def questions(n: int) -> list[tuple[str, str, str]]:
    """(expert, question with its options inline, gold letter) for N shuffled val rows."""
    experts = mmlu_subjects(DATA, other="generalist")
    rows = []
    for subject, expert in experts.items():
        with (DATA / "val" / f"{subject}_val.csv").open(newline="", encoding="utf-8") as f:
            for r in csv.reader(f):
                if len(r) == 6:
                    options = " ".join(f"({x}) {t}" for x, t in zip("ABCD", r[1:5], strict=True))
                    rows.append((expert, f"{r[0]}\n{options}", r[5].strip()))
    random.Random(0).shuffle(rows)
    return rows[:n]


async def measure(model: str, method: str, rows: list, concurrency: int = 4) -> dict:
    cards = {c.name: c for c in load_cards(DEFAULT_PACK)}
    chat = local_chat_model(model, 8)
    experts = {name: llm_expert(card.model_copy(update={"options": {
        **card.options, "choice_scoring": method}}), chat) for name, card in cards.items()}
    gate = asyncio.Semaphore(concurrency)

    async def one(row):
        async with gate:
            started = time.perf_counter()
            reply = await experts[row[0]].ainvoke({"question": row[1], "context": ""})
            return (reply.content[1:2], row[2], time.perf_counter() - started,
                    reply.response_metadata["answer_form"].get("scores"))

    started = time.perf_counter()
    done = await asyncio.gather(*(one(r) for r in rows))
    wall = time.perf_counter() - started
    picked = collections.Counter(d[0] for d in done)
    return {"accuracy": round(sum(d[0] == d[1] for d in done) / len(done), 4), "n": len(done),
            "letters": {x: round(picked[x] / len(done), 3) for x in "ABCD"},
            "mean_s": round(statistics.fmean(d[2] for d in done), 3),
            "s_per_question": round(wall / len(done), 3),
            "records": [{"expert": r[0], "gold": d[1], "scores": d[3]}
                        for r, d in zip(rows, done, strict=True)]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int, nargs="?", default=200)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--methods", default=",".join(reversed(CHOICE_SCORING)))
    parser.add_argument("--json")
    args = parser.parse_args()
    rows = questions(args.n)
    gold = collections.Counter(r[2] for r in rows)
    print(f"{len(rows)} MMLU val questions; gold letters "
          f"{ {x: round(gold[x] / len(rows), 3) for x in 'ABCD'} }")
    result = {"n": len(rows), "seed": 0, "models": {}}
    for model in args.models.split(","):
        for method in args.methods.split(","):
            measured = asyncio.run(measure(model, method, rows))
            result["models"].setdefault(model, {})[method] = measured
            print(f"{model:20} {method:12} accuracy {measured['accuracy']:.3f}  "
                  f"{measured['s_per_question']:.2f} s/question  letters {measured['letters']}",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
