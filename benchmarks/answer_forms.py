"""How an expert should answer a multiple-choice question: scoring methods on MMLU val.

    .venv/bin/python benchmarks/answer_forms.py 200

Compares, on N shuffled MMLU *val* questions (seed 0) with SmolLM2-135M on llama.cpp: the
letter's probability with the options shown ("mcf"), and each option's text scored as the reply
("cloze", summed / per token / per character), without and with the options shown. Prints
accuracy per method and seconds per question (README "Answer quality").
"""
import csv
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from langchain_core.messages import HumanMessage, SystemMessage

from comp_llm_graph.runtimes.llama_server import use_server
from comp_llm_graph.runtimes.llamacpp import smollm2

SYSTEM = "You are an expert. Answer the question."
VAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "mmlu" / "val"


def questions(n: int) -> list[list[str]]:
    """N MMLU val rows (question, A, B, C, D, letter), shuffled with seed 0."""
    rows = []
    for path in sorted(VAL.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            rows += [r for r in csv.reader(f) if len(r) == 6]
    random.Random(0).shuffle(rows)
    return rows[:n]


def with_options(row: list[str]) -> str:
    return row[0] + "\n" + "\n".join(f"({letter}) {choice}"
                                     for letter, choice in zip("ABCD", row[1:5], strict=True))


def letter(model, server, row: list[str]) -> int:
    """The option whose letter is most probable as the one-token reply (options shown)."""
    request, _ = model._request([SystemMessage(SYSTEM), HumanMessage(
        with_options(row) + "\nAnswer with the letter of the correct choice.")], None, {})
    reply = server.complete({**request, "max_tokens": 1, "grammar": "root ::= [ABCD]",
                             "logprobs": True, "top_logprobs": 20})
    top = reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    scores = {t["token"].strip(): t["logprob"] for t in top}
    return max(range(4), key=lambda i: scores.get("ABCD"[i], -99.0))


def option_scores(model, row: list[str], shown: bool) -> list[tuple[float, float, float]]:
    """Each option's text scored as the reply: summed, per token and per character."""
    question = with_options(row) if shown else row[0]
    sums = model.score_replies([SystemMessage(SYSTEM), HumanMessage(question)], row[1:5])
    tokens = [max(1, len(model.tokenizer().encode(c).ids)) for c in row[1:5]]
    return [(s, s / t, s / max(1, len(c))) for s, t, c in zip(sums, tokens, row[1:5],
                                                               strict=True)]


def main(n: int) -> None:
    rows = questions(n)
    gold = ["ABCD".index(r[5].strip()) for r in rows]
    model = smollm2()

    def accuracy(picks: list[int]) -> float:
        return sum(p == g for p, g in zip(picks, gold, strict=True)) / len(gold)

    with use_server(model._settings()) as (server, _), ThreadPoolExecutor(8) as pool:
        started = time.time()
        letters = list(pool.map(lambda r: letter(model, server, r), rows))
        print(f"letter probability, options shown: {accuracy(letters):.3f} "
              f"({(time.time() - started) / n:.2f} s/question)")
        for shown in (False, True):
            started = time.time()
            scored = list(pool.map(lambda r, s=shown: option_scores(model, r, s), rows))
            seconds = (time.time() - started) / n
            for k, how in enumerate(("summed", "per token", "per character")):
                picks = [max(range(4), key=lambda i, s=s: s[i][k]) for s in scored]
                print(f"option text {how}, options {'shown' if shown else 'not shown'}: "
                      f"{accuracy(picks):.3f} ({seconds:.2f} s/question)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
