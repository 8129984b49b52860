"""Question sets of the end-to-end evaluation, built deterministically from a seed.

- MMLU pairs (`mmlu_pairs`): two test questions of different expert domains asked as one query;
  each part is scored by the multiple-choice letter found for it in the final answer
  (`extract_letters`).
- Multi-hop QA (`multihop_questions`): MuSiQue (default), 2WikiMultihopQA or HotpotQA with gold
  answers and aliases, scored by `qa_scores`. Closed-book by default (`context="none"`);
  `"supporting"` or `"all"` puts paragraphs in the query (MuSiQue/HotpotQA train files only).

Every question satisfies `Item`, what `comp_llm_graph.evaluation.e2e.evaluate_e2e` needs: an
id, a query, a gold answer and a scorer (from `comp_llm_graph.evaluation.scoring`).
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.evaluation.data import mmlu_subjects
from comp_llm_graph.evaluation.scoring import LETTERS, extract_letters, qa_scores

__all__ = [
    "CONTEXTS",
    "Item",
    "MMLUPair",
    "MMLUQuestion",
    "MULTIHOP_FILES",
    "mmlu_by_domain",
    "MultiHopQuestion",
    "mmlu_pairs",
    "multihop_path",
    "multihop_questions",
]

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


def mmlu_by_domain(root: Path, split: str) -> dict[str, list[MMLUQuestion]]:
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
    domains = mmlu_by_domain(Path(root), split)
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


# -- multi-hop QA ------------------------------------------------------------------------------


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
