"""End-to-end evaluation: the same questions through the graph in comp, monolithic, sequential.

Two question sets, both built deterministically from a seed:

- MMLU pairs (`mmlu_pairs`): two test questions of different expert domains asked as one query;
  each part is scored by the multiple-choice letter found for it in the final answer
  (`extract_letters`): per-part accuracy and the rate of pairs with both parts right.
- Multi-hop QA (`multihop_questions`): MuSiQue (default), 2WikiMultihopQA or HotpotQA with gold
  answers and aliases; scored by exact match, SQuAD-normalised match, normalised containment and
  token F1 (`qa_scores`). Closed-book by default: the dev sets here ship without paragraphs, and
  an expert only ever sees its sub-question (and earlier answers), never the user's query, so
  paragraphs in the query would reach the planner, the aggregator and the monolithic expert but
  not the comp/sequential experts. `context="supporting"` or `"all"` (MuSiQue/HotpotQA train
  files only, which carry paragraphs) puts them in the query anyway, for reading-style runs.

`evaluate_e2e(graph, {"mmlu_pairs": pairs, "musique": questions})` runs every question in every
mode on whatever planner and experts the graph holds (the default pack, or cards pointing at
OpenAI-compatible endpoints) and reports accuracy, wall time and generated tokens per mode;
`e2e_markdown` renders the tables and `e2e_records` the per-question rows (JSON lines).
"""

from __future__ import annotations

import csv
import json
import random
import re
import statistics
import string
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from comp_llm_graph.context import MODES, Context
from comp_llm_graph.data import mmlu_subjects
from comp_llm_graph.errors import CompLLMError

__all__ = [
    "CONTEXTS",
    "E2E_MODES",
    "MMLUPair",
    "MMLUQuestion",
    "MULTIHOP_FILES",
    "MultiHopQuestion",
    "e2e_markdown",
    "e2e_records",
    "e2e_summary",
    "evaluate_e2e",
    "extract_letters",
    "mmlu_pairs",
    "multihop_path",
    "multihop_questions",
    "normalize_answer",
    "qa_scores",
]

E2E_MODES: tuple[str, ...] = ("comp", "monolithic", "sequential")
"""The modes compared by default (the paper's comparison)."""
LETTERS = "ABCD"
MMLU_PAIR_PROMPT = (
    "Part 1: {part1}\n\nPart 2: {part2}\n\nAnswer both multiple-choice questions. Give the letter "
    "of each answer, as \"Part 1: <letter>, Part 2: <letter>\"."
)
"""One MMLU pair as one query: both questions with their choices, then the answer format."""
MULTIHOP_FILES = {
    "musique": "musique/dev.json",
    "2wiki": "2wikimultihopqa/dev.json",
    "hotpotqa": "hotpotqa/hotpot_dev_v1_simplified.json",
}
"""Multi-hop dev sets (closed-book: no paragraphs) under the data folder, by name."""
CONTEXT_FILES = {
    "musique": "musique/musique_train.json",
    "hotpotqa": "hotpotqa/hotpotqa_train.json",
}
"""The files that carry paragraphs (100 train questions each), for `context` other than none."""
Contexts = Literal["none", "supporting", "all"]
CONTEXTS: tuple[str, ...] = ("none", "supporting", "all")
"""Closed-book; the gold supporting paragraphs; every paragraph of the record (with distractors)."""
MULTIHOP_CONTEXT_PROMPT = "Paragraphs:\n{paragraphs}\n\nQuestion: {question}"
"""A multi-hop question with its paragraphs (each `title: text`)."""


class Item(Protocol):
    """What `evaluate_e2e` needs of a question: the query, the gold and a scorer."""

    metrics: ClassVar[tuple[str, ...]]
    id: str
    query: str

    @property
    def gold(self) -> Any:
        """The gold answer, as written to the records."""

    def score(self, prediction: str) -> dict[str, Any]:
        """`metrics` as floats in [0, 1], plus anything worth keeping in the record."""


# -- MMLU pairs --------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class MMLUQuestion:
    """One MMLU test question."""

    id: str
    """`subject/row` (0-based row of the subject's CSV)."""
    subject: str
    expert: str
    """The expert domain of the subject (its group)."""
    question: str
    choices: tuple[str, ...]
    answer: str
    """The gold letter."""

    def text(self) -> str:
        """The question and its choices on one line: `question (A) ... (B) ... (C) ... (D) ...`."""
        options = " ".join(f"({letter}) {_one_line(choice)}"
                           for letter, choice in zip(LETTERS, self.choices, strict=True))
        return f"{_one_line(self.question)} {options}"


@dataclass(frozen=True)
class MMLUPair:
    """Two MMLU questions of different domains asked as one query."""

    metrics: ClassVar[tuple[str, ...]] = ("part_accuracy", "both_correct", "letters_found")
    parts: tuple[MMLUQuestion, ...]
    id: str = field(init=False)
    query: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", "+".join(p.id for p in self.parts))
        object.__setattr__(self, "query", MMLU_PAIR_PROMPT.format(
            part1=self.parts[0].text(), part2=self.parts[1].text()))

    @property
    def gold(self) -> list[dict[str, str]]:
        """Each part's letter, subject and expert domain."""
        return [{"answer": p.answer, "subject": p.subject, "expert": p.expert} for p in self.parts]

    def score(self, prediction: str) -> dict[str, Any]:
        """Per-part accuracy, both right, parts with a letter found; and the letters found."""
        letters = extract_letters(prediction, [p.choices for p in self.parts])
        right = [found == part.answer for found, part in zip(letters, self.parts, strict=True)]
        return {
            "part_accuracy": sum(right) / len(right),
            "both_correct": float(all(right)),
            "letters_found": sum(found is not None for found in letters) / len(letters),
            "letters": letters,
        }


def _mmlu_rows(root: Path, split: str) -> dict[str, list[MMLUQuestion]]:
    """Expert domain -> its questions of `split`, in file order."""
    domains: dict[str, list[MMLUQuestion]] = {}
    for subject, expert in mmlu_subjects(root).items():
        path = root / split / f"{subject}_{split}.csv"
        try:
            with path.open(newline="", encoding="utf-8") as f:
                rows = [r for r in csv.reader(f) if r]
        except OSError as exc:
            raise CompLLMError(f"cannot read MMLU file {path}: {exc}") from exc
        for number, row in enumerate(rows):
            if len(row) != 6 or row[5].strip() not in LETTERS:
                raise CompLLMError(f"{path}: row {number + 1} is not question, A, B, C, D, letter")
            domains.setdefault(expert, []).append(MMLUQuestion(
                id=f"{subject}/{number}", subject=subject, expert=expert, question=row[0],
                choices=tuple(row[1:5]), answer=row[5].strip()))
    return domains


def mmlu_pairs(root: str | Path, n: int, *, seed: int = 0, split: str = "test",
               max_part_chars: int | None = 300) -> list[MMLUPair]:
    """`n` pairs of MMLU questions from two different expert domains, the same for the same seed.

    Each pair draws two distinct domains uniformly (of the 16 with an expert), then a question
    uniformly within each; no question is used twice.

    Args:
        root: The MMLU folder.
        n: How many pairs.
        seed: Seed of the draw.
        split: MMLU split (`test` for scoring; `dev`/`val` are small).
        max_part_chars: Leave out questions longer than this as one line with their choices
            (None: keep all). The default 300 keeps every domain (law and history keep about 100
            questions each) and stays in reach of small planners, whose sub-questions are short.

    Raises:
        CompLLMError: when the files cannot be read or hold too few questions.
    """
    domains = _mmlu_rows(Path(root), split)
    rng = random.Random(seed)
    pools = {}
    for expert in sorted(domains):
        pool = [q for q in domains[expert]
                if max_part_chars is None or len(q.text()) <= max_part_chars]
        rng.shuffle(pool)
        if pool:
            pools[expert] = pool
    pairs = []
    for _ in range(n):
        available = sorted(e for e, pool in pools.items() if pool)
        if len(available) < 2:
            raise CompLLMError(f"only {len(pairs)} MMLU pairs can be drawn from {root} {split} "
                               f"(questions of at most {max_part_chars} characters); ask fewer.")
        first, second = rng.sample(available, 2)
        pairs.append(MMLUPair(parts=(pools[first].pop(), pools[second].pop())))
    return pairs


# -- the letter of each part -------------------------------------------------------------------

_ORDINALS = {1: "first|1st", 2: "second|2nd", 3: "third|3rd", 4: "fourth|4th"}
_LETTER = re.compile(r"\(([A-Da-d])\)|\b([A-D])\b(?![’'\-])")
_ANSWER_IS = re.compile(  # case-insensitive words, a capital letter (not the article "a")
    r"\b(?i:answer)(?:\s+(?i:is|would\s+be)|\s*:)?\s*(?:\(([A-Da-d])\)|\b([A-D])\b)(?![’'\-])")
LETTER_WINDOW = 40
"""A letter counts for a part if it is at most this many characters after the part's label."""


def _marker(part: int) -> re.Pattern[str]:
    ordinal = _ORDINALS.get(part, f"{part}th")
    return re.compile(
        rf"\b(?:part|question|q|problem|answer)\s*#?\s*{part}\b"
        rf"|\b(?:{ordinal})\s+(?:part|question|one|answer)\b"
        rf"|\({part}\)"
        rf"|(?:^|(?<=\s)){part}[.):](?=\s)",
        re.IGNORECASE | re.MULTILINE)


def _letters_in(text: str) -> list[tuple[int, str]]:
    """Standalone letters A-D (or `(a)`-`(d)`), not the article "A" before a lowercase word."""
    found = []
    for match in _LETTER.finditer(text):
        letter = match.group(1) or match.group(2)
        if match.group(2) == "A" and re.match(r"\s+(?!is\b|was\b)[a-z]", text[match.end():]):
            continue
        found.append((match.start(), letter.upper()))
    return found


def _letter_after_label(segment: str) -> str | None:
    answer = _ANSWER_IS.search(segment)
    if answer:
        return (answer.group(1) or answer.group(2)).upper()
    near = [letter for start, letter in _letters_in(segment) if start < LETTER_WINDOW]
    return near[0] if near else None


def _choice_named(segment: str, choices: Sequence[str]) -> str | None:
    text = f" {normalize_answer(segment)} "
    named = {letter: normalize_answer(choice) for letter, choice in zip(LETTERS, choices,
                                                                         strict=False)}
    hits = {letter for letter, choice in named.items() if choice and f" {choice} " in text}
    hits = {h for h in hits if not any(named[h] != named[o] and named[h] in named[o]
                                       for o in hits)}  # "Paris" inside "Paris, Texas"
    return hits.pop() if len(hits) == 1 else None


def extract_letters(text: str, choices: Sequence[Sequence[str]]) -> list[str | None]:
    """The multiple-choice letter given for each part of a multi-part answer (None: not found).

    The rule, in order:

    1. Labels: each part is looked for by its label: `Part 1`, `Question 1`, `Q1`, `Answer 1`,
       `(1)`, `1.`/`1)`/`1:` at the start of a line or after a space, `first question` /
       `second part` / `1st answer`. The text after a label, up to the next label, is that
       part's segment. In a segment, `answer is X` / `answer: X` wins; otherwise the first
       standalone capital letter A-D (or `(a)`-`(d)`) within `LETTER_WINDOW` characters of the
       label (the article "A" before a lowercase word does not count); otherwise the one
       choice whose text (SQuAD-normalised) the segment contains. When a part has several
       labels, the last one that yields a letter wins (answers tend to follow echoed questions).
    2. No label at all: the `answer is X` letters in order if there are exactly as many as
       parts, else the standalone letters if exactly as many as parts (`B, D`; `B and D`).
    3. Otherwise the part is None (scored wrong).

    Args:
        text: The final answer.
        choices: Each part's choices, in letter order.
    """
    n = len(choices)
    markers = sorted((m.start(), m.end(), part) for part in range(1, n + 1)
                     for m in _marker(part).finditer(text))
    merged: list[tuple[int, int, int]] = []
    for start, end, part in markers:  # "Part 1:" matches two patterns: one label
        if merged and start < merged[-1][1] and part == merged[-1][2]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]), part)
        elif not merged or start >= merged[-1][1]:
            merged.append((start, end, part))
    if not merged:
        said = [(m.group(1) or m.group(2)).upper() for m in _ANSWER_IS.finditer(text)]
        if len(said) == n:
            return list(said)
        letters = [letter for _, letter in _letters_in(text)]
        return list(letters) if len(letters) == n else [None] * n
    found: list[str | None] = []
    for part in range(1, n + 1):
        segments = [text[end:merged[i + 1][0] if i + 1 < len(merged) else len(text)]
                    for i, (_, end, label) in enumerate(merged) if label == part]
        by_letter = [x for x in map(_letter_after_label, segments) if x]
        by_choice = [x for x in (_choice_named(s, choices[part - 1]) for s in segments) if x]
        found.append(by_letter[-1] if by_letter else by_choice[-1] if by_choice else None)
    return found


# -- multi-hop QA ------------------------------------------------------------------------------

_ANSWER_LABEL = re.compile(r"^\s*(?:final\s+)?answer\s*:\s*", re.IGNORECASE)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation and articles, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _f1(prediction: str, gold: str) -> float:
    predicted, wanted = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(predicted) & Counter(wanted)).values())
    if not predicted or not wanted or not common:
        return float(predicted == wanted)
    precision, recall = common / len(predicted), common / len(wanted)
    return 2 * precision * recall / (precision + recall)


def qa_scores(prediction: str, golds: Sequence[str]) -> dict[str, float]:
    """Exact, normalised and contained match and token F1, each the best over the gold aliases.

    The prediction is the whole final answer with a leading `Answer:` / `Final answer:` label
    removed. exact: equal after stripping whitespace. normalised: equal after
    `normalize_answer` (SQuAD exact match). contains: a normalised gold occurs in the
    normalised prediction on word boundaries (lenient: credits a sentence that names the
    answer). f1: SQuAD token F1.
    """
    prediction = _ANSWER_LABEL.sub("", prediction.strip())
    predicted = f" {normalize_answer(prediction)} "
    golds = [g for g in golds if g.strip()]
    return {
        "exact": float(any(prediction.strip() == g.strip() for g in golds)),
        "normalised": float(any(predicted.strip() == normalize_answer(g) for g in golds)),
        "contains": float(any(normalize_answer(g) and f" {normalize_answer(g)} " in predicted
                              for g in golds)),
        "f1": max((_f1(prediction, g) for g in golds), default=0.0),
    }


@dataclass(frozen=True)
class MultiHopQuestion:
    """A multi-hop question with its gold answer and aliases."""

    metrics: ClassVar[tuple[str, ...]] = ("exact", "normalised", "contains", "f1")
    id: str
    question: str
    answers: tuple[str, ...]
    """The gold answer first, then its aliases."""
    paragraphs: tuple[str, ...] = ()
    """Paragraphs given with the question (`title: text`); empty when closed-book."""
    query: str = field(init=False)

    def __post_init__(self) -> None:
        query = self.question
        if self.paragraphs:
            query = MULTIHOP_CONTEXT_PROMPT.format(paragraphs="\n\n".join(self.paragraphs),
                                                   question=self.question)
        object.__setattr__(self, "query", query)

    @property
    def gold(self) -> list[str]:
        """The gold answer and its aliases."""
        return list(self.answers)

    def score(self, prediction: str) -> dict[str, Any]:
        """`qa_scores` against the answer and its aliases."""
        return qa_scores(prediction, self.answers)


def multihop_path(root: str | Path, dataset: str = "musique", *,
                  context: Contexts = "none") -> Path:
    """The file of a named multi-hop set under the data folder.

    Args:
        root: The data folder (with musique/, 2wikimultihopqa/, hotpotqa/).
        dataset: musique, 2wiki or hotpotqa.
        context: none: the dev set (closed-book); supporting/all: the 100-question train file
            that carries paragraphs (musique and hotpotqa only).
    """
    if dataset not in MULTIHOP_FILES:
        raise CompLLMError(f"unknown multi-hop set {dataset!r}; choose from "
                           f"{', '.join(MULTIHOP_FILES)}")
    if context not in CONTEXTS:
        raise CompLLMError(f"context must be one of {', '.join(CONTEXTS)}; got {context!r}")
    if context == "none":
        return Path(root) / MULTIHOP_FILES[dataset]
    if dataset not in CONTEXT_FILES:
        raise CompLLMError(f"{dataset} has no paragraphs here; context {context!r} needs "
                           f"{' or '.join(CONTEXT_FILES)}")
    return Path(root) / CONTEXT_FILES[dataset]


def _paragraphs(record: dict[str, Any], context: str) -> tuple[str, ...]:
    if "paragraphs" in record:  # MuSiQue
        return tuple(f"{p['title']}: {_one_line(p['paragraph_text'])}"
                     for p in record["paragraphs"]
                     if context == "all" or p.get("is_supporting"))
    if "context" in record:  # HotpotQA distractor format
        supporting = {title for title, _ in record.get("supporting_facts", [])}
        return tuple(f"{title}: {_one_line(' '.join(sentences))}"
                     for title, sentences in record["context"]
                     if context == "all" or title in supporting)
    return ()


def multihop_questions(path: str | Path, n: int | None = None, *, seed: int = 0,
                       context: Contexts = "none") -> list[MultiHopQuestion]:
    """Answerable questions of a MuSiQue, 2WikiMultihopQA or HotpotQA JSON file, with golds.

    The format is read from each record: MuSiQue (`answer_aliases`, optional `paragraphs`),
    HotpotQA (`context` + `supporting_facts` in the distractor format, or question/answer
    only) and 2WikiMultihopQA (`_id`, `evidences`). Unanswerable MuSiQue records are skipped.

    Args:
        path: The JSON file (see `multihop_path`).
        n: A random sample of this many (None: all, in file order).
        seed: Seed of the sample.
        context: none (closed-book), supporting (the gold supporting paragraphs) or all (every
            paragraph of the record, distractors included).

    Raises:
        CompLLMError: naming the file (and record) when it cannot be read, or when `context`
            asks for paragraphs that the file does not have.
    """
    path = Path(path)
    if context not in CONTEXTS:
        raise CompLLMError(f"context must be one of {', '.join(CONTEXTS)}; got {context!r}")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CompLLMError(f"cannot read {path}: {exc}") from exc
    if not isinstance(records, list):
        raise CompLLMError(f"{path}: expected a JSON list of questions")
    questions = []
    for index, record in enumerate(records):
        if not isinstance(record, dict) or not str(record.get("question") or "").strip() or (
                not str(record.get("answer") or "").strip()):
            raise CompLLMError(f"{path}: record {index} needs a question and an answer")
        if record.get("answerable") is False:
            continue
        paragraphs = _paragraphs(record, context) if context != "none" else ()
        if context != "none" and not paragraphs:
            raise CompLLMError(
                f"{path}: record {index} has no paragraphs for context {context!r}; use a file "
                f"that has them ({', '.join(CONTEXT_FILES.values())}) or context 'none'")
        aliases = [str(a) for a in record.get("answer_aliases") or []]
        questions.append(MultiHopQuestion(
            id=str(record.get("id") or record.get("_id") or f"{path.stem}:{index}"),
            question=_one_line(str(record["question"])),
            answers=tuple(dict.fromkeys([str(record["answer"]), *aliases])),
            paragraphs=paragraphs))
    if n is not None and n < len(questions):
        questions = random.Random(seed).sample(questions, n)
    return questions


# -- the evaluator -----------------------------------------------------------------------------


def _tokens(state: dict[str, Any]) -> dict[str, int]:
    """Generated tokens of one run by role, and the model calls that reported none."""
    answers = (state.get("answers") or {}).values()
    attempts = (state.get("planning") or {}).get("attempts", [])
    aggregation = state.get("aggregation") or {}
    expert = sum(a.get("output_tokens", 0) for a in answers)
    planner = sum(a.get("output_tokens", 0) for a in attempts)
    aggregator = aggregation.get("output_tokens", 0)
    unreported = (sum(1 for a in answers if "output_tokens" not in a and not a.get("error"))
                  + sum(1 for a in attempts if "output_tokens" not in a)
                  + int(aggregation.get("method") == "llm" and "output_tokens" not in aggregation))
    return {"tokens": expert + planner + aggregator, "expert_tokens": expert,
            "planner_tokens": planner, "aggregator_tokens": aggregator,
            "calls_without_token_counts": unreported}


async def _run(graph: Any, item: Item, context: Context, config: Any) -> dict[str, Any]:
    """One question in one mode: prediction, scores, wall time, tokens."""
    started = time.perf_counter()
    try:
        state = await graph.ainvoke({"query": item.query}, context=context, config=config)
    except Exception as exc:  # noqa: BLE001 - one failed run is recorded and scored wrong
        wall = time.perf_counter() - started
        return {"prediction": "", "scores": item.score(""), "wall_s": round(wall, 4),
                **_tokens({}), "subqueries": 0, "planning": None, "aggregation": None,
                "error": f"{type(exc).__name__}: {exc}"}
    wall = time.perf_counter() - started
    prediction = state.get("final_answer", "")
    return {
        "prediction": prediction,
        "scores": item.score(prediction),
        "wall_s": round(wall, 4),
        **_tokens(state),
        "subqueries": len(state.get("plan") or []),
        "planning": (state.get("planning") or {}).get("status"),
        "aggregation": (state.get("aggregation") or {}).get("method"),
        "error": None,
    }


def _summary(runs: list[dict[str, Any]], metrics: Sequence[str]) -> dict[str, Any]:
    def mean(values: list[float]) -> float:
        return round(statistics.fmean(values), 4) if values else 0.0

    walls = [r["wall_s"] for r in runs]
    summary: dict[str, Any] = {"n": len(runs)}
    summary |= {m: mean([float(r["scores"][m]) for r in runs]) for m in metrics}
    summary |= {
        "wall_s_mean": mean(walls),
        "wall_s_median": round(statistics.median(walls), 4) if walls else 0.0,
        "wall_s_total": round(sum(walls), 4),
        "tokens_mean": mean([r["tokens"] for r in runs]),
        "expert_tokens_mean": mean([r["expert_tokens"] for r in runs]),
        "planner_tokens_mean": mean([r["planner_tokens"] for r in runs]),
        "aggregator_tokens_mean": mean([r["aggregator_tokens"] for r in runs]),
        "calls_without_token_counts": sum(r["calls_without_token_counts"] for r in runs),
        "subqueries_mean": mean([r["subqueries"] for r in runs]),
        "planning": dict(Counter(r["planning"] for r in runs if r["planning"]).most_common()),
        "errors": sum(r["error"] is not None for r in runs),
    }
    return summary


async def evaluate_e2e(
    graph: Any,
    sets: Mapping[str, Sequence[Item]],
    *,
    modes: Sequence[str] = E2E_MODES,
    context: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    warmup: bool = True,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Answer every question of every set in every mode; score, time and count tokens.

    Order: question by question, every mode on a question before the next question, the
    modes' order rotating by one each question. Interleaving exposes every mode to the same
    drift in machine load (other processes, thermal state, a remote endpoint's queue), and a
    run stopped early still has every mode on the same questions; rotating keeps any mode
    from always running first, right after the previous question. Runs are one at a time (no
    two questions overlap), so wall time is each run's latency. Before anything is timed, the
    first question runs once in each mode, unscored (`warmup`): this loads the models, opens
    the routing index and compiles the plan grammar, for every mode's models. A warm-up
    failure raises (misconfiguration); a failure in a scored run is recorded in its record,
    counted in `errors`, and scored as a wrong answer.

    Tokens are generated (output) tokens as the models report them (`usage_metadata`):
    experts' (`answers[*].output_tokens`), the planner's (every plan attempt) and the
    aggregator's. Model calls that report none (e.g. the sympy math tool) count 0 and are
    counted in `calls_without_token_counts`. In react mode the `decide` steps are not counted.

    Args:
        graph: A compiled Comp-LLM graph, or the components for `build_graph` (planner,
            registry, aggregator), on any experts.
        sets: Set name -> questions (`mmlu_pairs`, `multihop_questions`, or anything with
            `id`, `query`, `gold`, `metrics` and `score(prediction)`).
        modes: The modes to compare, each a `Context.mode`.
        context: Other `Context` settings for every run (e.g. `max_subqueries`, `schedule`).
        config: RunnableConfig for every run (e.g. `{"max_concurrency": 4}`).
        warmup: Run the first question once per mode before timing.
        progress: Called with 1 after each scored run (a run is one question in one mode;
            there are `sum(len(s) for s in sets.values()) * len(modes)` of them).

    Returns:
        Set name -> `{"n", "metrics", "modes": {mode: summary}, "records": [...]}`. A mode's
        summary holds the mean of each metric (MMLU pairs: part_accuracy, both_correct,
        letters_found; multi-hop: exact, normalised, contains, f1), wall_s_mean/median/total,
        tokens_mean and its split (expert, planner, aggregator), subqueries_mean, planning
        (plan status counts), errors and n. A record is `{"set", "id", "query", "gold",
        "modes": {mode: run}}`, a run holding the prediction, its scores, wall_s and tokens.
    """
    if isinstance(graph, Mapping):
        from comp_llm_graph.graph import build_graph

        graph = build_graph(**graph)
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise CompLLMError(f"modes must be some of {', '.join(MODES)}; got {list(modes)}")
    settings = dict(context or {})
    contexts = {mode: Context(mode=mode, **settings) for mode in modes}  # type: ignore[arg-type]
    run_config = dict(config) if config else None
    first = next((items[0] for items in sets.values() if items), None)
    if warmup and first is not None:
        for mode in modes:
            await graph.ainvoke({"query": first.query}, context=contexts[mode], config=run_config)
    results: dict[str, Any] = {}
    turn = 0
    for name, items in sets.items():
        runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
        records = []
        for item in items:
            order = list(modes[turn % len(modes):]) + list(modes[:turn % len(modes)])
            turn += 1
            record: dict[str, Any] = {"set": name, "id": item.id, "query": item.query,
                                      "gold": item.gold, "modes": {}}
            for mode in order:
                run = await _run(graph, item, contexts[mode], run_config)
                runs[mode].append(run)
                if progress:
                    progress(1)
            record["modes"] = {mode: runs[mode][-1] for mode in modes}
            records.append(record)
        metrics = items[0].metrics if items else ()
        results[name] = {"n": len(items), "metrics": list(metrics),
                         "modes": {mode: _summary(runs[mode], metrics) for mode in modes},
                         "records": records}
    return results


def e2e_summary(results: dict[str, Any]) -> dict[str, Any]:
    """The results without the per-question records (the JSON summary)."""
    return {name: {k: v for k, v in result.items() if k != "records"}
            for name, result in results.items()}


def e2e_records(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every question's record, set by set (one JSON line each)."""
    return [record for result in results.values() for record in result["records"]]


METRIC_LABELS = {
    "part_accuracy": "part acc.", "both_correct": "both right", "letters_found": "letter found",
    "exact": "EM", "normalised": "norm. EM", "contains": "contains", "f1": "F1",
}
CHANCE = {"part_accuracy": 0.25, "both_correct": 0.0625}
"""Random guessing on four choices."""


def e2e_markdown(results: dict[str, Any], title: str) -> str:
    """One Markdown table per set: metrics, wall time and generated tokens per mode."""
    lines = [f"### {title}", ""]
    for name, result in results.items():
        metrics = result["metrics"]
        lines += [f"**{name}** ({result['n']} questions)", "",
                  "| mode | " + " | ".join(METRIC_LABELS.get(m, m) for m in metrics)
                  + " | wall s mean | wall s median | tokens/question | sub-queries | errors |",
                  "|---|" + "---|" * (len(metrics) + 5)]
        for mode, row in result["modes"].items():
            lines.append(
                f"| {mode} | " + " | ".join(f"{row[m]:.3f}" for m in metrics)
                + f" | {row['wall_s_mean']:.2f} | {row['wall_s_median']:.2f} | "
                f"{row['tokens_mean']:.0f} | {row['subqueries_mean']:.2f} | {row['errors']} |")
        chance = [f"{METRIC_LABELS[m]} {CHANCE[m]:g}" for m in metrics if m in CHANCE]
        if chance:
            lines += ["", "Chance: " + ", ".join(chance) + "."]
        lines.append("")
    return "\n".join(lines)
