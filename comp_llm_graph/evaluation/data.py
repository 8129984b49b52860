"""Labelled questions for routing: MMLU (the release's folder layout) or a file of your own.

`labelled_questions(path)` reads either an MMLU folder (dev/ val/ test/ CSVs plus
`subject_categories.json`; the label of a question is its subject's group, named as the default
expert) or a CSV/JSONL file with `question` and `expert` fields.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Sequence
from pathlib import Path

from comp_llm_graph.errors import CompLLMError
from comp_llm_graph.experts.training import Labelled

__all__ = [
    "MMLU_EXPERT_NAMES",
    "labelled_questions",
    "mmlu_questions",
    "mmlu_subjects",
]

MMLU_EXPERT_NAMES = {"computer science": "computer_science"}
"""MMLU subject group -> default expert name, where they differ (the others are equal)."""
MMLU_SKIPPED_GROUP = "other"
"""The MMLU group with no expert of its own (miscellaneous, global facts, ...)."""


def mmlu_subjects(root: Path, *, other: str | None = None) -> dict[str, str]:
    """MMLU subject -> expert name, for the 16 groups that have one.

    Args:
        root: The MMLU folder.
        other: Also map the subjects of the "other" group (global facts, miscellaneous, ...)
            to this expert (e.g. the generalist); None leaves them out.
    """
    path = root / "subject_categories.json"
    try:
        subjects = json.loads(path.read_text(encoding="utf-8"))["subjects"]
    except (OSError, ValueError, KeyError) as exc:
        raise CompLLMError(f"{path}: cannot read the MMLU subject groups: {exc}") from exc
    return {subject: (other if info["subcategory"] == MMLU_SKIPPED_GROUP else
                      MMLU_EXPERT_NAMES.get(info["subcategory"], info["subcategory"]))
            for subject, info in sorted(subjects.items())
            if info["subcategory"] != MMLU_SKIPPED_GROUP or other}


def mmlu_questions(root: str | Path, splits: Sequence[str], *, sample: int | None = None,
                   seed: int = 0, other: str | None = None) -> list[Labelled]:
    """The questions of the given MMLU splits (`dev`, `val`, `test`) with their expert labels.

    Args:
        root: The MMLU folder.
        splits: Which splits to read.
        sample: Keep a random sample of this many (None: all).
        seed: Seed of the sample.
        other: Label the "other" group's questions with this expert (None: leave them out).
    """
    root = Path(root)
    rows: list[Labelled] = []
    for subject, expert in mmlu_subjects(root, other=other).items():
        for split in splits:
            path = root / split / f"{subject}_{split}.csv"
            try:
                with path.open(newline="", encoding="utf-8") as f:
                    rows += [Labelled(r[0], expert, subject, subject, tuple(r[1:5]))
                             for r in csv.reader(f) if r]
            except OSError as exc:
                raise CompLLMError(f"cannot read MMLU file {path}: {exc}") from exc
    if sample is not None and sample < len(rows):
        rows = random.Random(seed).sample(rows, sample)
    return rows


def labelled_questions(path: str | Path, *, splits: Sequence[str] = ("dev", "val"),
                       sample: int | None = None, seed: int = 0,
                       other: str | None = None) -> list[Labelled]:
    """Labelled questions from an MMLU folder or a CSV/JSONL file of `question`, `expert`.

    A file may also have a `topic` field (a finer label inside the expert, used by the learned
    router). `other` labels MMLU's "other" group with that expert (MMLU folders only).

    Raises:
        CompLLMError: naming the file (and line) when something cannot be read.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / "subject_categories.json").is_file():
            raise CompLLMError(
                f"{path} is a folder but not MMLU's (no subject_categories.json); give an MMLU "
                "folder or a .csv/.jsonl file with question and expert fields.")
        return mmlu_questions(path, splits, sample=sample, seed=seed, other=other)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CompLLMError(f"cannot read {path}: {exc}") from exc
    if path.suffix == ".jsonl":
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append((number, json.loads(line)))
                except ValueError as exc:
                    raise CompLLMError(f"{path}:{number}: not JSON: {exc}") from exc
    elif path.suffix == ".csv":
        records = list(enumerate(csv.DictReader(text.splitlines()), start=2))
    else:
        raise CompLLMError(f"{path}: use an MMLU folder, a .csv or a .jsonl file.")
    rows = []
    for number, record in records:
        if not isinstance(record, dict) or not str(record.get("question") or "").strip() or not (
                str(record.get("expert") or "").strip()):
            raise CompLLMError(f"{path}:{number}: needs a non-empty question and expert.")
        rows.append(Labelled(str(record["question"]).strip(), str(record["expert"]).strip(),
                             f"{path.name}:{number}", str(record.get("topic") or "").strip()))
    if sample is not None and sample < len(rows):
        rows = random.Random(seed).sample(rows, sample)
    return rows
