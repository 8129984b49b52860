"""How an expert should answer a multiple-choice question: scoring methods on MMLU val.

    .venv/bin/python benchmarks/answer_forms.py 200

Compares, on N shuffled MMLU *val* questions (seed 0) with SmolLM2-135M on llama.cpp: the
letter's probability with the options shown ("mcf"), and each option's text scored as the reply
("cloze", summed / per token / per character), without and with the options shown. Prints
accuracy per method and seconds per question (README "Answer quality").
"""
import csv
import glob
import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from comp_llm_graph.runtimes.llama_server import use_server
from comp_llm_graph.runtimes.llamacpp import smollm2

rows = []
for p in sorted(glob.glob(str(Path(__file__).resolve().parents[2] / "shared/data/mmlu/val/*.csv"))):
    with open(p) as f:
        rows += [r for r in csv.reader(f) if len(r) == 6]
random.Random(0).shuffle(rows)
rows = rows[: int(sys.argv[1])]
m = smollm2()
tok = m.tokenizer()
SYS = "You are an expert. Answer the question."
def call(server, req):
    chunks = []
    r = server._server.handle_chat_completions({**req, "stream": False, "temperature": 0, "logprobs": True, "top_logprobs": 20}, lambda c: chunks.append(c) or False)
    return r or chunks[-1]
def mcf(server, r):
    q = r[0] + "\n" + "\n".join(f"({L}) {c}" for L, c in zip("ABCD", r[1:5], strict=False)) + "\nAnswer with the letter of the correct choice."
    out = call(server, {"messages": [{"role": "system", "content": SYS}, {"role": "user", "content": q}], "max_tokens": 1, "grammar": 'root ::= [ABCD]'})
    top = out["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    lp = {t["token"].strip(): t["logprob"] for t in top}
    return max("ABCD", key=lambda L: lp.get(L, -99))
def cloze_scores(server, r, with_choices):
    q = r[0]
    if with_choices:
        q += "\n" + "\n".join(f"({L}) {c}" for L, c in zip("ABCD", r[1:5], strict=False))
    res = []
    for c in r[1:5]:
        ids = tok.encode(c, add_special_tokens=False).ids or tok.encode(" ", add_special_tokens=False).ids
        g = "root ::= " + " ".join(f"<[{i}]>" for i in ids)
        out = call(server, {"messages": [{"role": "system", "content": SYS}, {"role": "user", "content": q}], "max_tokens": len(ids), "grammar": g})
        if "choices" not in out:
            print("ERR", json.dumps(out)[:300], len(ids), flush=True); res.append((-1e9,)*3); continue
        lps = [t["logprob"] for t in out["choices"][0]["logprobs"]["content"][: len(ids)]]
        res.append((sum(lps), sum(lps) / len(lps), sum(lps) / max(1, len(c))))
    return res
with use_server(m._settings()) as (server, _):
    t = time.time()
    with ThreadPoolExecutor(8) as ex:
        mc = list(ex.map(lambda r: mcf(server, r), rows))
    t1 = time.time()
    with ThreadPoolExecutor(8) as ex:
        cl = list(ex.map(lambda r: cloze_scores(server, r, False), rows))
    t2 = time.time()
    with ThreadPoolExecutor(8) as ex:
        cl2 = list(ex.map(lambda r: cloze_scores(server, r, True), rows))
    t3 = time.time()
gold = [r[5].strip() for r in rows]
def acc(preds):
    return sum(p == g for p, g in zip(preds, gold, strict=False)) / len(gold)
print("n", len(rows), "mcf", acc(mc), f"{(t1-t)/len(rows):.3f}s/q")
for name, c in (("cloze", cl), ("cloze+choices", cl2)):
    for k, label in enumerate(("sum", "per-token", "per-char")):
        print(name, label, acc(["ABCD"[max(range(4), key=lambda i: s[i][k])] for s in c]))
print(f"cloze {(t2-t1)/len(rows):.3f}s/q, cloze+choices {(t3-t2)/len(rows):.3f}s/q")
