"""Expert profiles: which catalogue model each expert runs on, chosen by measured accuracy.

`comp-llm experts profile` measures every expert on labelled questions of its domain with every
candidate model (`evaluation/profile.py`) and saves the result beside the fitted routers as
`<router key>.profile.json` (the key names the set of cards), a file to read and edit; a profile
shipped beside the packaged router is used until one is measured. The rule that picks a model
(`choose`) is the paper's size reduction made explicit: the **smallest** candidate whose
accuracy is within `margin` of the best one's; with `budget_s`, only candidates answering within
that many seconds count.

A registry built afterwards (`ExpertRegistry.from_folders`) gives each card that names no
`model` of its own the profile's choice; a card's own `model:` always wins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from comp_llm_graph.errors import CompLLMError

__all__ = ["DEFAULT_MARGIN", "PROFILED_BACKENDS", "choose", "load_profile", "profile_path",
           "save_profile"]

PROFILED_BACKENDS = ("llamacpp", "smollm2", "program")
"""Backends that run a catalogue model, so a profile can choose it."""
DEFAULT_MARGIN = 0.02
"""Accuracy a smaller model may lose against the best candidate and still be chosen."""


def choose(candidates: dict[str, dict[str, Any]], *, margin: float = DEFAULT_MARGIN,
           budget_s: float | None = None) -> str:
    """The smallest candidate within `margin` of the best accuracy (within `budget_s`, if set).

    `candidates` maps a model name to at least `accuracy`, `parameters_b` and `mean_s`. When no
    candidate answers within the budget, the fastest one is chosen.

    Raises:
        ValueError: no candidates.
    """
    if not candidates:
        raise ValueError("no candidates to choose from")
    pool = {name: c for name, c in candidates.items()
            if budget_s is None or c["mean_s"] <= budget_s}
    if not pool:
        return min(candidates, key=lambda name: candidates[name]["mean_s"])
    best = max(c["accuracy"] for c in pool.values())
    near = [name for name, c in pool.items() if c["accuracy"] >= best - margin - 1e-12]
    return min(near, key=lambda name: (pool[name]["parameters_b"], -pool[name]["accuracy"]))


def profile_path(folder: Path, key: str) -> Path:
    """Where the profile of the cards named by router key `key` is kept in `folder`."""
    return folder / f"{key}.profile.json"


def save_profile(folder: Path, key: str, document: dict[str, Any]) -> Path:
    """Write `document` as the profile of `key` in `folder` (whole or not at all); its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = profile_path(folder, key)
    partial = path.with_suffix(".json.part")
    partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def load_profile(folders: list[Path], key: str) -> dict[str, str]:
    """Expert name -> chosen model from the first profile of `key` in `folders`; {} if none.

    Raises:
        CompLLMError: the file exists but is not a profile, or names a model the catalogue
            does not have (the message says which and how to fix it).
    """
    from comp_llm_graph.models import INSTRUCT_MODELS

    path = next((profile_path(f, key) for f in folders if profile_path(f, key).is_file()), None)
    if path is None:
        return {}
    try:
        experts = json.loads(path.read_text(encoding="utf-8"))["experts"]
        chosen = {name: entry["chosen"] for name, entry in experts.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CompLLMError(f"{path}: not an expert profile ({exc}); run `comp-llm experts "
                           "profile` again or delete the file.") from None
    unknown = {name: model for name, model in chosen.items() if model not in INSTRUCT_MODELS}
    if unknown:
        raise CompLLMError(f"{path}: chosen models not in the catalogue: {unknown}; use one of "
                           f"{', '.join(INSTRUCT_MODELS)}.")
    return chosen
