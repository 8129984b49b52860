"""Expert cards: YAML files that describe an expert (what it is good at and how it runs)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from comp_llm_graph.errors import ExpertCardError
from comp_llm_graph.experts.answer_form import CHOICE_SCORING
from comp_llm_graph.experts.card_yaml import CardTooLarge, read_card_yaml

__all__ = ["DEFAULT_PACK", "ExpertCard", "load_card", "load_cards"]

DEFAULT_PACK = Path(__file__).parent / "pack"
"""The folder of the default expert cards shipped with the package."""


class ExpertCard(BaseModel):
    """One expert: capability description, example questions, system prompt, backend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=64)
    """Unique name, lower case (letters, digits, `_`, `-`)."""
    description: str = Field(min_length=10)
    """What the expert is good at; embedded for routing."""
    examples: list[str] = Field(min_length=1)
    """Questions the expert is good at; each is embedded for routing."""
    system_prompt: str = ""
    """System prompt for LLM backends."""
    backend: str
    """Name of the backend that runs the expert (see `comp_llm_graph.experts.backends`);
    `llamacpp` when the card names a `model` and no backend."""
    model: str | None = None
    """The catalogue model the local backends (`llamacpp`, `smollm2`, and `sympy`'s fallback)
    run, e.g. `qwen2.5-coder-1.5b` (`comp-llm models` lists them); None: `smollm2-135m`."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Backend options, e.g. `max_new_tokens`."""
    max_concurrency: int | None = Field(default=None, ge=1)
    """Most sub-queries this expert runs at once, across all runs (None: no limit)."""
    timeout: float | None = Field(default=None, gt=0)
    """Seconds one call of this expert may take (None: the run's `Context.expert_timeout`)."""
    retries: int | None = Field(default=None, ge=0, le=10)
    """Attempts after a failed call, with exponential backoff (None: `Context.expert_retries`)."""
    source: str | None = Field(default=None, exclude=True)
    """The file the card came from (set by the loader)."""

    @model_validator(mode="before")
    @classmethod
    def _model_implies_backend(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("model") and "backend" not in data:
            return {**data, "backend": "llamacpp"}
        return data

    @field_validator("model")
    @classmethod
    def _catalogue_model(cls, model: str | None) -> str | None:
        if model is None:
            return None
        from comp_llm_graph.models import INSTRUCT_MODELS
        from comp_llm_graph.runtimes.catalogue import ALIASES

        name = ALIASES.get(model, model) if isinstance(model, str) else model
        if name not in INSTRUCT_MODELS:
            raise ValueError(f"model must be an instruct model of the catalogue: "
                             f"{', '.join(INSTRUCT_MODELS)} (`comp-llm models`); got "
                             f"{_shown(model)}")
        return name

    @field_validator("options")
    @classmethod
    def _whole_max_new_tokens(cls, options: dict[str, Any]) -> dict[str, Any]:
        tokens = options.get("max_new_tokens")
        if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int)
                                   or tokens < 1):
            raise ValueError(f"max_new_tokens must be a whole number >= 1; got {_shown(tokens)}")
        scoring = options.get("choice_scoring", CHOICE_SCORING[0])
        if scoring not in CHOICE_SCORING:
            raise ValueError(f"choice_scoring must be one of {', '.join(CHOICE_SCORING)}; got "
                             f"{_shown(scoring)}")
        return options

    @field_validator("examples")
    @classmethod
    def _no_blank_examples(cls, examples: list[str]) -> list[str]:
        blank = [i + 1 for i, e in enumerate(examples) if not str(e).strip()]
        if blank:
            raise ValueError(f"example(s) {blank} are blank")
        return [str(e).strip() for e in examples]

    def routing_texts(self) -> list[str]:
        """The texts embedded for routing: the description, then each example."""
        return [self.description.strip(), *self.examples]

    def fingerprint(self) -> str:
        """Hash of the routing texts: the stored embeddings are redone only when it changes."""
        payload = json.dumps([self.name, self.routing_texts()], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def load_card(path: Path) -> ExpertCard:
    """Read and validate one card file.

    Raises:
        ExpertCardError: naming the file and what is wrong with it.
    """
    try:
        data = read_card_yaml(path)
    except CardTooLarge as exc:
        raise ExpertCardError(f"{path}: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ExpertCardError(f"{path}: cannot read the expert card: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ExpertCardError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ExpertCardError(
            f"{path}: an expert card is a YAML mapping with name, description, examples, "
            f"system_prompt and backend; got {type(data).__name__}."
        )
    _check_keys(path, data)
    try:
        return ExpertCard(**data, source=str(path))
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        if any(err["type"] == "extra_forbidden" for err in exc.errors()):
            problems += f" (the fields of a card: {', '.join(CARD_FIELDS)})"
        raise ExpertCardError(f"{path}: invalid expert card: {problems}") from exc


CARD_FIELDS = tuple(name for name in ExpertCard.model_fields if name != "source")
"""The keys a card file may have (`source` is the loader's: the file the card came from)."""


def _check_keys(path: Path, data: dict[Any, Any]) -> None:
    """Refuse keys that are not field names: not text, or `source` (set from the path)."""
    odd = [key for key in data if not isinstance(key, str)]
    if odd:
        hint = (" (YAML reads yes/no/on/off as true/false: quote a key meant as text)"
                if any(isinstance(k, bool) for k in odd) else "")
        raise ExpertCardError(
            f"{path}: invalid expert card: key(s) {', '.join(_shown(k) for k in odd)} are not "
            f"field names{hint}; the fields of a card: {', '.join(CARD_FIELDS)}.")
    if "source" in data:
        raise ExpertCardError(
            f"{path}: invalid expert card: 'source' is not a card field; the loader sets it to "
            "the file the card came from. Remove it from the card.")


def _problem(error: Any) -> str:
    """One pydantic error as `field: what is wrong (got what was given)`."""
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}"
                    for part in error["loc"]).lstrip(".") or "card"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] in ("missing", "extra_forbidden") or "; got " in message:
        return f"{where}: {message}"
    return f"{where}: {message}; got {_shown(error['input'])}"


def _shown(value: Any) -> str:
    """`value` as a short repr with its YAML type, for error messages."""
    text = repr(value)
    return f"{text[:60] + '...' if len(text) > 60 else text} ({type(value).__name__})"


def load_cards(folder: Path) -> list[ExpertCard]:
    """Load every `*.yaml` / `*.yml` card in a folder (sorted by file name).

    Raises:
        ExpertCardError: the folder is missing or has no cards, a card is malformed, or two cards
            in it share a name.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ExpertCardError(f"{folder}: expert card folder not found.")
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not files:
        raise ExpertCardError(f"{folder}: no expert cards (*.yaml) in this folder.")
    cards: list[ExpertCard] = []
    seen: dict[str, str] = {}
    for path in files:
        card = load_card(path)
        if card.name in seen:
            raise ExpertCardError(
                f"{path}: expert name {card.name!r} is already used by {seen[card.name]}."
            )
        seen[card.name] = str(path)
        cards.append(card)
    return cards
