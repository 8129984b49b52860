"""`comp-llm eval math`: the math expert's methods on GSM8K, per model, with the same problems.

Methods, each on each model asked for:

- `program`: the model writes a program of thought, the bounded evaluator runs it
  (`experts/math_program.py`; one repair after a failure, no fallback, so a failure counts);
- `free_text`: the same model solves the problem step by step in words (chain of thought) and
  ends with "The answer is N";
- `expert`: the math expert as it was before programs (bare arithmetic by sympy, the rest to
  SmolLM2 in free text), on SmolLM2 whatever model is asked for: it is reported under
  `smollm2-135m`.

A reply is right when its number equals the gold one (GSM8K's `#### N`) within 1e-6 relative.
The problems are a seeded sample of the split asked for (test by default); the demonstration
bank and the routers are fitted on other data, so nothing here was seen in fitting.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from comp_llm_graph.errors import CompLLMError

__all__ = ["METHODS", "MathProblem", "evaluate_math", "extract_number", "gsm8k_problems",
           "math_markdown"]

METHODS = ("program", "free_text", "expert")
FREE_TEXT_TOKENS = 320
"""Generation limit of the free-text baseline (a GSM8K solution takes 100-250 tokens)."""
PROGRAM_TOKENS = 320
"""Generation limit of one program."""
_NUMBER = r"-?\$?\s?\d[\d,]*(?:\.\d+)?"
_ANSWER_IS = re.compile(rf"answer\s+is[^\d\n-]{{0,24}}({_NUMBER})", re.IGNORECASE)
_BOXED = re.compile(rf"\\boxed\{{\s*({_NUMBER})")


@dataclass(frozen=True)
class MathProblem:
    """One GSM8K problem and its gold number."""

    question: str
    answer: float
    index: int
    """Its line in the split's file (0-based), to trace it back."""


def _to_number(text: str) -> float | None:
    cleaned = re.sub(r"[\s$,]", "", text)
    try:
        return float(cleaned)
    except ValueError:
        return None


def extract_number(reply: str) -> float | None:
    r"""The number a reply gives as its answer.

    A LaTeX `\boxed{N}` or "The answer is N" (the last such) if stated; else the value after
    the last "=" (the sympy expert writes "expression = value"); else the last number.
    """
    if (found := _BOXED.findall(reply)) or (found := _ANSWER_IS.findall(reply)):
        return _to_number(found[-1])
    if "=" in reply and (after := re.findall(_NUMBER, reply.rsplit("=", 1)[1])):
        return _to_number(after[0])
    numbers = re.findall(_NUMBER, reply)
    return _to_number(numbers[-1]) if numbers else None


def gsm8k_problems(folder: str | Path, *, split: str = "test", sample: int | None = None,
                   seed: int = 0) -> list[MathProblem]:
    """A seeded sample of GSM8K `split` (`test.jsonl` or `train.jsonl` in `folder`).

    Raises:
        CompLLMError: the file is missing or a line is not a GSM8K record.
    """
    path = Path(folder) / f"{split}.jsonl"
    if not path.is_file():
        raise CompLLMError(f"{path}: no such file; give --data the GSM8K folder (it holds "
                           "test.jsonl and train.jsonl)")
    problems = []
    with path.open(encoding="utf-8") as stream:
        for index, line in enumerate(stream):
            try:
                record = json.loads(line)
                gold = _to_number(record["answer"].rsplit("####", 1)[1])
            except (ValueError, KeyError, IndexError, AttributeError) as exc:
                raise CompLLMError(f"{path}:{index + 1}: not a GSM8K record ({exc})") from None
            problems.append(MathProblem(record["question"], gold, index))
    if sample is not None and sample < len(problems):
        problems = random.Random(seed).sample(problems, sample)
    return problems


def _correct(predicted: float | None, gold: float) -> bool:
    return predicted is not None and abs(predicted - gold) <= 1e-6 * max(1.0, abs(gold))


def _method_runnable(model: str, method: str) -> Any:
    """The Runnable answering `{"question", "context"}` for one model and method."""
    from comp_llm_graph.runtimes.llamacpp import local_chat_model

    if method == "program":
        from comp_llm_graph.experts.math_program import program_expert

        return program_expert(local_chat_model(model, PROGRAM_TOKENS))
    if method == "free_text":
        from langchain_core.runnables import RunnableLambda

        from comp_llm_graph.prompts import FREE_TEXT_MATH_PROMPT

        messages = RunnableLambda(
            lambda p: [("system", FREE_TEXT_MATH_PROMPT), ("human", p["question"])])
        return messages | local_chat_model(model, FREE_TEXT_TOKENS)
    if method == "expert":
        from comp_llm_graph.experts.backends import build_expert
        from comp_llm_graph.experts.cards import DEFAULT_PACK, load_card

        card = load_card(DEFAULT_PACK / "math.yaml")
        return build_expert(card.model_copy(update={
            "backend": "sympy", "model": None,
            "options": {"fallback_backend": "smollm2", "max_new_tokens": 128}}))
    raise ValueError(f"unknown method {method!r}: use {', '.join(METHODS)}")


async def _run_method(runnable: Any, problems: list[MathProblem], concurrency: int,
                      advance: Callable[[], None], limit: int) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(problem: MathProblem) -> dict[str, Any]:
        async with gate:
            started = time.perf_counter()
            try:
                reply = await runnable.ainvoke({"question": problem.question, "context": ""})
                error = None
            except (CompLLMError, ValueError, RuntimeError, TimeoutError) as exc:
                reply, error = "", f"{type(exc).__name__}: {exc}"
            seconds = time.perf_counter() - started
        advance()
        text = str(getattr(reply, "content", reply))
        usage = getattr(reply, "usage_metadata", None) or {}
        predicted = extract_number(text)
        return {"index": problem.index, "gold": problem.answer, "predicted": predicted,
                "limit": limit,
                "correct": _correct(predicted, problem.answer), "seconds": round(seconds, 3),
                "output_tokens": usage.get("output_tokens", 0), "reply": text[:2000],
                "method_used": (getattr(reply, "response_metadata", None) or {}).get("method"),
                "error": error}

    return list(await asyncio.gather(*(one(p) for p in problems)))


def _summary(records: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    seconds = sorted(r["seconds"] for r in records)
    return {"accuracy": round(sum(r["correct"] for r in records) / len(records), 4),
            "n": len(records), "mean_s": round(statistics.fmean(seconds), 2),
            "p95_s": round(seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))], 2),
            "wall_s_per_problem": round(wall / len(records), 2),
            "mean_output_tokens": round(statistics.fmean(r["output_tokens"] for r in records), 1),
            "errors": sum(r["error"] is not None for r in records),
            "cut_at_limit": sum(r["output_tokens"] >= r["limit"] for r in records),
            "fallbacks": sum(r["method_used"] == "fallback" for r in records)}


async def evaluate_math(problems: list[MathProblem], models: list[str], methods: list[str], *,
                        concurrency: int = 4,
                        progress: Callable[[str, int], Callable[[], None]] | None = None,
                        ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`({"math": {model: {method: summary}}}, records)` for every model and method asked.

    `progress(label, total)` returns the callable advanced once per answered problem.
    """
    from comp_llm_graph.runtimes.catalogue import catalogue_model

    for method in methods:
        if method not in METHODS:
            raise CompLLMError(f"unknown method {method!r}: use {', '.join(METHODS)}")
    runs = []
    for method in methods:
        for model in (["smollm2-135m"] if method == "expert" else models):
            entry = catalogue_model(model)
            if entry.kind != "instruct":
                raise CompLLMError(f"{model} is a base model; the math methods need an "
                                   "instruct model")
            if (entry.name, method) not in runs:
                runs.append((entry.name, method))
    results: dict[str, dict[str, Any]] = {}
    records: list[dict[str, Any]] = []
    for model, method in runs:
        advance = progress(f"{method} on {model}", len(problems)) if progress else (lambda: None)
        started = time.perf_counter()
        limit = FREE_TEXT_TOKENS if method == "free_text" else (
            PROGRAM_TOKENS * 2 if method == "program" else 128)  # a program may be asked twice
        done = await _run_method(_method_runnable(model, method), problems, concurrency, advance,
                                 limit)
        results.setdefault(model, {})[method] = _summary(done, time.perf_counter() - started)
        records += [{"model": model, "method": method, **r} for r in done]
    return {"math": results}, records


def math_markdown(document: dict[str, Any], title: str) -> str:
    """The results as a Markdown table, a row per model and method."""
    lines = [f"### {title}", "",
             "| model | method | accuracy | s / problem (mean, p95) | output tokens | fallbacks |",
             "|---|---|---|---|---|---|"]
    for model, methods in document["math"].items():
        for method, s in methods.items():
            lines.append(f"| {model} | {method} | {s['accuracy']:.3f} | {s['mean_s']:.1f}, "
                         f"{s['p95_s']:.1f} | {s['mean_output_tokens']:.0f} | {s['fallbacks']} |")
    return "\n".join(lines) + "\n"
