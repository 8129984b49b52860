"""MultiExpertQA: compound questions whose parts need different experts, built from public data.

The paper's benchmark (MultiExpertQA-P and -All) is not public; these sets follow its shape from
`../shared/data`, deterministically from a seed, and only from items nothing was fitted on:
MMLU **test** questions of the profile's *check* half (routers are fitted on dev/val, profiles on
the other half), GSM8K **test** (profiles use train), 2WikiMultihopQA and MuSiQue **dev**, and
HotpotQA's paragraph file (the demonstration bank is StrategyQA and MuSiQue train).

- **P** (parallel): 2-3 independent parts for different experts: an MMLU question of some
  subject group (a letter), a GSM8K problem (a number), an MMLU computer-science question (a
  letter); asked numbered, bulleted, run on with "and", or as a question plus a request.
- **D** (dependent): a part needs an earlier answer: two-hop questions closed book (2Wiki
  compositional and inference, MuSiQue 2-hop), two-hop questions with their paragraphs in the
  query (HotpotQA bridge), and arithmetic chains (a GSM8K problem, then a computation on its
  answer).

Each part is graded on its own (`grade`): the part's stretch of the answer is found by its label
(`1.`, `Part 2`...) when the answer has labels, else the whole answer is read; a letter part by
its letter or the one choice it names, a number part by the number it states, a text part by
SQuAD-normalised containment of a gold alias (its token F1 is kept too).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.evaluation.e2e_data import MMLUQuestion, mmlu_by_domain
from comp_llm_graph.evaluation.math_eval import MathProblem, extract_number, gsm8k_problems
from comp_llm_graph.evaluation.profile import profile_half
from comp_llm_graph.evaluation.scoring import choice_named, letter_in, part_segments, qa_scores

__all__ = ["CompoundQuestion", "Part", "PHRASINGS", "SETS", "dependent_set", "grade",
           "multiexpert_sets", "parallel_set"]

SETS = ("P", "D")
"""The sets built; `All` is their union, summarised by the evaluator."""
PHRASINGS = ("numbered", "bulleted", "and", "request")
"""How a P question joins its parts."""
CS_EXPERT = "computer_science"
MAX_PART_CHARS = 400
"""MMLU questions longer than this (with their options) are not used as parts."""

Kind = Literal["letter", "number", "text"]


@dataclass(frozen=True)
class Part:
    """One graded part of a compound question."""

    kind: Kind
    text: str
    """The part as asked."""
    gold: Any
    """A letter, a number, or the gold answer and its aliases (a tuple)."""
    source: str
    """`mmlu:<subject>/<row>`, `gsm8k:<line>`, `2wiki:<id>`, ... to trace it back."""
    expert: str
    """The expert domain the part needs."""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompoundQuestion:
    """A compound question of set P or D: what `evaluate_e2e`'s `Item` asks for."""

    metrics: ClassVar[tuple[str, ...]] = ("part_accuracy", "all_parts_accuracy", "f1")
    set: str
    kind: str
    """P: the phrasing; D: closed_book, paragraphs or chain."""
    query: str
    parts: tuple[Part, ...]
    id: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", f"{self.set}:" + "+".join(p.source for p in self.parts))

    @property
    def gold(self) -> list[dict[str, Any]]:
        """Each part's kind, gold and expert domain."""
        return [{"kind": p.kind, "gold": p.gold, "expert": p.expert, "source": p.source}
                for p in self.parts]

    def score(self, prediction: str) -> dict[str, Any]:
        """Per-part accuracy, all parts right, mean token F1; and each part's verdict."""
        verdicts = grade(prediction, self.parts)
        right = [v["right"] for v in verdicts]
        return {"part_accuracy": sum(right) / len(right), "all_parts_accuracy": float(all(right)),
                "f1": sum(v["f1"] for v in verdicts) / len(verdicts), "parts": verdicts}


# -- grading -----------------------------------------------------------------------------------


def _grade_part(segments: list[str], part: Part, whole: bool) -> dict[str, Any]:
    """One part's verdict from its stretches of the answer (`whole`: the answer, unlabelled)."""
    value: Any = None
    f1 = 0.0
    if part.kind == "letter":
        found = [x for x in (choice_named(s, part.choices) if whole else letter_in(s, part.choices)
                             for s in segments) if x]
        value = found[-1] if found else None
        right = value == part.gold
    elif part.kind == "number":
        found = [x for x in map(extract_number, segments) if x is not None]
        value = found[-1] if found else None
        right = value is not None and abs(value - part.gold) <= 1e-6 * max(1.0, abs(part.gold))
    else:
        scores = [qa_scores(s, part.gold) for s in segments if s.strip()]
        best = max(scores, key=lambda s: (s["contains"], s["f1"]), default=None)
        right, f1 = bool(best and best["contains"]), best["f1"] if best else 0.0
        value = segments[-1].strip()[:200] if best else None
    return {"found": value, "right": right, "f1": f1 if part.kind == "text" else float(right)}


def grade(prediction: str, parts: Sequence[Part]) -> list[dict[str, Any]]:
    """Each part's verdict: what was found for it, right or not, token F1 (text parts).

    A part's stretch of the answer: with two or more parts, the text after its label (`1.`,
    `Part 2:`, `(3)` ...); else, when the answer has one line per part, its line; else the
    whole answer, where a letter part counts only by naming its own choice (a lone letter could
    be any part's) and a number part only when it is the answer's one number part.
    """
    n = len(parts)
    labelled = part_segments(prediction, n) if n > 1 else None
    lines = [line for line in prediction.splitlines() if line.strip()]
    if n == 1:
        return [_grade_part([prediction], parts[0], whole=False)]
    if labelled is not None:
        return [_grade_part(labelled[i], p, whole=False) for i, p in enumerate(parts)]
    if len(lines) == n:
        return [_grade_part([lines[i]], p, whole=False) for i, p in enumerate(parts)]
    numbers = sum(p.kind == "number" for p in parts)
    return [_grade_part([prediction] if p.kind != "number" or numbers == 1 else [], p, whole=True)
            for p in parts]


# -- the parts ---------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _letter_part(q: MMLUQuestion) -> Part:
    return Part("letter", q.text(), q.answer, f"mmlu:{q.id}", q.expert, q.choices)


def _math_part(problem: MathProblem) -> Part:
    return Part("number", _one_line(problem.question), problem.answer,
                f"gsm8k:{problem.index}", "math")


def _held_out_mmlu(root: Path) -> dict[str, list[MMLUQuestion]]:
    """MMLU test by expert domain: the check half only, options shown, short enough."""
    domains = {}
    for expert, questions in mmlu_by_domain(root, "test").items():
        kept = [q for q in questions
                if not profile_half(q.question) and len(q.text()) <= MAX_PART_CHARS]
        if kept:
            domains[expert] = kept
    if CS_EXPERT not in domains or len(domains) < 3:
        raise CompLLMError(f"{root}: MMLU test has too few subject groups for MultiExpertQA")
    return domains


def _join(parts: list[Part], phrasing: str) -> str:
    texts = [p.text for p in parts]
    if phrasing == "numbered":
        return "\n".join(f"{i}. {t}" for i, t in enumerate(texts, start=1))
    if phrasing == "bulleted":
        return "Answer each of these:\n" + "\n".join(f"- {t}" for t in texts)
    if phrasing == "and":
        return " And ".join(texts[:-1]) + " And also: " + texts[-1]
    return texts[0] + "".join(f"\nPlease also answer this one: {t}" for t in texts[1:])


def parallel_set(data: Path, n: int, *, seed: int = 0) -> list[CompoundQuestion]:
    """`n` P questions: 2-3 independent parts of different kinds, phrasings in turn."""
    rng = random.Random(f"multiexpert-P-{seed}")
    domains = _held_out_mmlu(data / "mmlu")
    problems = gsm8k_problems(data / "gsm8k", split="test")
    others = sorted(d for d in domains if d not in (CS_EXPERT, "math"))  # a part per expert
    used: set[str] = set()

    def draw(pool: list[Any], key: Any) -> Any:
        while True:
            item = rng.choice(pool)
            if key(item) not in used:
                used.add(key(item))
                return item

    items = []
    for index in range(n):
        slots = ["knowledge", "math", CS_EXPERT]
        chosen = slots if index % 2 else rng.sample(slots, 2)
        parts = []
        for slot in chosen:
            if slot == "math":
                parts.append(_math_part(draw(problems, lambda p: p.index)))
            else:
                pool = domains[CS_EXPERT if slot == CS_EXPERT else rng.choice(others)]
                parts.append(_letter_part(draw(pool, lambda q: q.id)))
        rng.shuffle(parts)
        phrasing = PHRASINGS[index % len(PHRASINGS)]
        items.append(CompoundQuestion("P", phrasing, _join(parts, phrasing), tuple(parts)))
    return items


# -- the dependent set -------------------------------------------------------------------------

CHAIN_STEPS = (("multiply it by {k}", lambda x, k: x * k),
               ("add {k} to it", lambda x, k: x + k),
               ("subtract {k} from it", lambda x, k: x - k))


def _load(path: Path) -> list[dict[str, Any]]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CompLLMError(f"cannot read {path}: {exc}") from None


def _closed_book(data: Path) -> list[Part]:
    wiki = [Part("text", r["question"], (r["answer"],), f"2wiki:{r['_id']}", "multihop")
            for r in _load(data / "2wikimultihopqa" / "dev.json")
            if r.get("type") in ("compositional", "inference")]
    musique = [Part("text", r["question"], (r["answer"], *r.get("answer_aliases", [])),
                    f"musique:{r['id']}", "multihop")
               for r in _load(data / "musique" / "dev.json")
               if r["id"].startswith("2hop") and r.get("answerable", True)]
    return wiki + musique


def _with_paragraphs(data: Path) -> list[Part]:
    parts = []
    for r in _load(data / "hotpotqa" / "hotpotqa_train.json"):
        if r.get("type") != "bridge":
            continue
        titles = {t for t, _ in r["supporting_facts"]}
        paragraphs = [f"{title}: {' '.join(sentences)}" for title, sentences in r["context"]
                      if title in titles]
        text = "Paragraphs:\n" + "\n".join(paragraphs) + f"\n\nQuestion: {r['question']}"
        parts.append(Part("text", text, (r["answer"],), f"hotpotqa:{r['_id']}", "multihop"))
    return parts


def _chain(problem: MathProblem, rng: random.Random) -> CompoundQuestion:
    words, step = rng.choice(CHAIN_STEPS)
    k = rng.randint(2, 9)
    first = _math_part(problem)
    then = Part("number", f"Take the answer to 1. and {words.format(k=k)}.",
                step(problem.answer, k), f"{first.source}:{words.split()[0]}{k}", "math")
    query = f"1. {first.text}\n2. {then.text}"
    return CompoundQuestion("D", "chain", query, (first, then))


def dependent_set(data: Path, n: int, *, seed: int = 0) -> list[CompoundQuestion]:
    """`n` D questions: closed-book two-hop, two-hop with paragraphs, and chains, in turn."""
    rng = random.Random(f"multiexpert-D-{seed}")
    closed, given = _closed_book(data), _with_paragraphs(data)
    problems = gsm8k_problems(data / "gsm8k", split="test")
    counts = [n // 3 + (i < n % 3) for i in range(3)]
    items = [CompoundQuestion("D", "closed_book", p.text, (p,))
             for p in rng.sample(closed, counts[0])]
    items += [CompoundQuestion("D", "paragraphs", p.text, (p,))
              for p in rng.sample(given, min(counts[1], len(given)))]
    items += [_chain(p, rng) for p in rng.sample(problems, counts[2])]
    rng.shuffle(items)
    return items


def multiexpert_sets(data: str | Path, sample: int, *, seed: int = 0,
                     sets: Sequence[str] = SETS) -> dict[str, list[CompoundQuestion]]:
    """Set name -> `sample` questions of it, the same for the same seed.

    Raises:
        CompLLMError: a file under `data` is missing or unreadable, or `sample` < 1.
    """
    if sample < 1:
        raise CompLLMError(f"--sample must be at least 1; got {sample}")
    unknown = [s for s in sets if s not in SETS]
    if unknown:
        raise CompLLMError(f"sets must be some of {', '.join(SETS)}; got {unknown}")
    root = Path(data)
    build = {"P": parallel_set, "D": dependent_set}
    return {name: build[name](root, sample, seed=seed) for name in sets}
