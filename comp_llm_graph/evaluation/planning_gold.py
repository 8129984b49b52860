"""Gold decompositions for the planning evaluation: MuSiQue, StrategyQA, Break and GSM8K.

Each loader reads one dataset's dev/test file from the shared data folder into `GoldPlan`s: the
question the planner is given and its gold steps, each step depending on earlier ones whose
answers it uses (`#k` references, or for GSM8K the numbers a step computes). Kept apart from the
scoring in `comp_llm_graph.evaluation.planning`, which only needs `GoldPlan` and `GoldStep`.

    examples = gold_plans("../shared/data", sample=50, seed=0)
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from comp_llm_graph.errors import CompLLMError

__all__ = [
    "DATASETS",
    "GoldPlan",
    "GoldStep",
    "gold_plans",
    "load_break",
    "load_gsm8k",
    "load_musique",
    "load_strategyqa",
]

@dataclass(frozen=True)
class GoldStep:
    """One step of a gold decomposition."""

    text: str
    """The sub-question as the dataset writes it (with `#k` references to earlier steps)."""
    depends_on: tuple[int, ...] = ()
    """Positions (from 0) of the earlier steps whose answers it uses."""


@dataclass(frozen=True)
class GoldPlan:
    """A question and its gold decomposition."""

    dataset: str
    """musique, strategyqa, break or gsm8k."""
    id: str
    """The example's id in the dataset (or its line number)."""
    question: str
    """The question the planner is given."""
    steps: tuple[GoldStep, ...]
    """The gold steps; each depends only on earlier ones."""


_HASH_REF = re.compile(r"#(\d+)")


def _steps_from_refs(texts: Sequence[str]) -> tuple[GoldStep, ...] | None:
    """Steps whose dependencies are their `#k` references; None if one points to itself or later."""
    steps = []
    for position, text in enumerate(texts):
        refs = sorted({int(k) - 1 for k in _HASH_REF.findall(text)})
        if any(not 0 <= ref < position for ref in refs):
            return None
        steps.append(GoldStep(" ".join(text.split()), tuple(refs)))
    return tuple(steps)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CompLLMError(f"cannot read {path}: {exc}") from exc


def _sampled(plans: list[GoldPlan], sample: int | None, seed: int) -> list[GoldPlan]:
    if sample is not None and sample < len(plans):
        return random.Random(seed).sample(plans, sample)
    return plans


def load_musique(folder: str | Path, *, sample: int | None = None, seed: int = 0) -> list[GoldPlan]:
    """MuSiQue-Ans dev (`dev.json`): `question_decomposition`, steps linked by `#k`.

    Steps are natural-language questions or KB-style `Entity >> relation`; both are kept as
    written. Gold shapes: chains of 2 to 4 hops and three shapes with two parallel roots.

    Args:
        folder: The `musique` data folder.
        sample: Keep a random sample of this many (None: all).
        seed: Seed of the sample.
    """
    path = Path(folder) / "dev.json"
    plans = []
    for item in json.loads(_read(path)):
        steps = _steps_from_refs([s["question"] for s in item["question_decomposition"]])
        if steps:
            plans.append(GoldPlan("musique", item["id"], item["question"], steps))
    return _sampled(plans, sample, seed)


def load_strategyqa(folder: str | Path, *, sample: int | None = None,
                    seed: int = 0) -> list[GoldPlan]:
    """StrategyQA dev (`dev.json`, 10% of the official train set): `decomposition` with `#k`.

    Args:
        folder: The `strategyqa` data folder.
        sample: Keep a random sample of this many (None: all).
        seed: Seed of the sample.
    """
    path = Path(folder) / "dev.json"
    plans = []
    for item in json.loads(_read(path)):
        steps = _steps_from_refs(item["decomposition"])
        if steps:
            plans.append(GoldPlan("strategyqa", item["qid"], item["question"], steps))
    return _sampled(plans, sample, seed)


def load_break(folder: str | Path, *, sample: int | None = None, seed: int = 0) -> list[GoldPlan]:
    """Break dev, high-level QDMR (`QDMR-high-level/dev.csv`): steps split at `;`, linked by `#k`.

    High-level QDMR rather than QDMR: its steps are questions a planner would ask an expert
    ("return the country where Jamaican English is spoken"), while QDMR breaks them into
    retrieval operators ("return number of #1", "return #1 that is highest"); and its rows are
    text QA (HotpotQA, DROP, ComplexWebQuestions), while most QDMR dev rows are visual (CLEVR,
    NLVR2) or text-to-SQL. The leading `return` of each step is kept (it is a stopword to the
    matcher). One dev row, whose last step refers to itself, is skipped.

    Args:
        folder: The `break` data folder.
        sample: Keep a random sample of this many (None: all).
        seed: Seed of the sample.
    """
    path = Path(folder) / "QDMR-high-level" / "dev.csv"
    plans = []
    for row in csv.DictReader(io.StringIO(_read(path), newline="")):
        steps = _steps_from_refs([s for s in row["decomposition"].split(";") if s.strip()])
        if steps:
            plans.append(GoldPlan("break", row["question_id"], row["question_text"], steps))
    return _sampled(plans, sample, seed)


_CALCULATION = re.compile(r"<<([^=<>]*)=([^<>]*)>>")
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+")
_OPERATOR = re.compile(r"[-+*/]")


def _numbers(text: str) -> list[float]:
    return [round(float(n.replace(",", "")), 6) for n in _NUMBER.findall(text)]


def _gsm8k_steps(question: str, answer: str) -> tuple[GoldStep, ...]:
    """Socratic sub-questions with dependencies inferred from the numbers each step uses.

    A step uses the operands of its calculator annotations (`<<48/2=24>>`) and produces their
    results; a step without annotations (or only with ones like `<<16=16>>`, whose working is in
    the text) uses every number in its text and produces those not in the question.

    A step depends on the latest earlier step that produced a number it uses (a number used k
    times links to the k latest producers), also when the question has that number too (reading
    the data, such numbers nearly always come from the earlier step). A step that finds no
    producer is a root when it has an annotation and uses numbers of the question; otherwise
    ("Simplify", "Write an equation", "x=<<40=40>>40") it depends on the step before.
    """
    in_question = set(_numbers(question))
    produced: list[list[float]] = []
    steps = []
    for line in answer.splitlines():
        if line.startswith("####") or not line.strip():
            continue
        sub_question, _, working = line.partition(" ** ")
        calculations = [c for c in _CALCULATION.findall(working) if _OPERATOR.search(c[0])]
        if calculations:
            used = [n for left, _ in calculations for n in _numbers(left)]
            made = [n for _, right in calculations for n in _numbers(right)]
        else:
            used = _numbers(_CALCULATION.sub(" ", working))
            made = [n for n in used if n not in in_question]
        depends: set[int] = set()
        for number, times in Counter(used).items():
            producers = [j for j, numbers in enumerate(produced) if number in numbers]
            depends.update(producers[-times:])
        annotated = _CALCULATION.search(working) is not None
        if not depends and produced and not (annotated and in_question.intersection(used)):
            depends.add(len(produced) - 1)
        produced.append(made)
        steps.append(GoldStep(" ".join(sub_question.split()), tuple(sorted(depends))))
    return tuple(steps)


def load_gsm8k(folder: str | Path, *, sample: int | None = None, seed: int = 0) -> list[GoldPlan]:
    """GSM8K test, Socratic format (`test_socratic.jsonl`): one step per `sub-question ** working`.

    The Socratic steps have no references, so dependencies are inferred from numbers: a step
    depends on the earlier steps that computed a number its calculation uses (see
    `_gsm8k_steps`). This keeps the parallel structure the solutions have (the price of the
    house and the value of the repairs are computed independently, then combined), which a chain
    would hide: 38% of the test problems come out with parallel steps. Ids are line numbers.

    Args:
        folder: The `gsm8k` data folder.
        sample: Keep a random sample of this many (None: all).
        seed: Seed of the sample.
    """
    path = Path(folder) / "test_socratic.jsonl"
    plans = []
    for number, line in enumerate(_read(path).splitlines(), start=1):
        if line.strip():
            item = json.loads(line)
            steps = _gsm8k_steps(item["question"], item["answer"])
            plans.append(GoldPlan("gsm8k", str(number), item["question"], steps))
    return _sampled(plans, sample, seed)


DATASETS: dict[str, Callable[..., list[GoldPlan]]] = {
    "musique": load_musique,
    "strategyqa": load_strategyqa,
    "break": load_break,
    "gsm8k": load_gsm8k,
}
"""Dataset name -> loader of its gold plans (from the folder of that name)."""


def gold_plans(root: str | Path, datasets: Sequence[str] = tuple(DATASETS), *,
               sample: int | None = None, seed: int = 0) -> list[GoldPlan]:
    """Gold plans of several datasets, `sample` from each (fixed seed).

    Args:
        root: The shared data folder (holding `musique/`, `strategyqa/`, `break/`, `gsm8k/`).
        datasets: Which datasets, by name.
        sample: How many per dataset (None: all).
        seed: Seed of the samples.

    Raises:
        CompLLMError: an unknown dataset or a file that cannot be read.
    """
    unknown = [name for name in datasets if name not in DATASETS]
    if unknown:
        raise CompLLMError(f"unknown dataset {', '.join(unknown)}: use {', '.join(DATASETS)}.")
    plans: list[GoldPlan] = []
    for name in datasets:
        plans += DATASETS[name](Path(root) / name, sample=sample, seed=seed)
    return plans
