"""Experts given as Python objects: chat models, runnables, tools and functions, cards optional.

`build_graph(experts={...})` and `ExpertRegistry.from_experts({...})` accept, per expert name
(`ExpertRegistry(cards, experts=...)` and `build_graph(registry=..., experts=...)` take the
object alone, since a card describes it):

- a chat model (`BaseChatModel`): wrapped with the expert prompt (`llm_expert`: the card's
  system prompt, the question with earlier answers, the answer form);
- a tool (`BaseTool`) of one text argument: given the question (after the earlier answers, when
  there are any); its description is the routing description;
- any other Runnable: given `{"question", "context"}` and returning text, a message or
  `{"answer": ...}`; a plain function is made a Runnable.

An expert needs a description to be routed to: the tool's, one given inline as
`(object, "what it is good at")` or `{"runnable": object, "description": ..., "examples": [...],
"system_prompt": ...}`, or the card of that name (the default pack's when no registry is given).
Anything else is a clear `ExpertCardError`, raised when the graph is built, never per call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.tools import BaseTool
from pydantic import ValidationError

from comp_llm_graph.errors import ExpertCardError
from comp_llm_graph.experts.cards import ExpertCard
from comp_llm_graph.experts.llm_expert import llm_expert

__all__ = ["INLINE_BACKEND", "as_expert", "inline_cards", "unmatched_error", "unpack"]

INLINE_BACKEND = "python"
"""The backend named in the cards of experts given as objects (they are never built)."""
_FIELDS = {"runnable", "description", "examples", "system_prompt", "max_concurrency"}


def as_expert(card: ExpertCard, value: Any) -> Runnable:
    """The expert Runnable for `card` from a chat model, tool, runnable or function.

    Raises:
        ExpertCardError: a tool with other than one argument, or an object that cannot run.
    """
    if isinstance(value, BaseChatModel):
        return llm_expert(card, value)
    if isinstance(value, BaseTool):
        return _tool_expert(card.name, value)
    _check_runnable(card.name, value)
    if isinstance(value, Runnable):
        return value
    return RunnableLambda(value, name=f"expert:{card.name}")


def _check_runnable(name: str, value: Any) -> None:
    if not (isinstance(value, Runnable) or callable(value)):
        raise ExpertCardError(
            f"expert {name!r} is a {type(value).__name__}; an expert is a chat model, a tool, "
            "a Runnable or a function.")


def inline_cards(experts: Mapping[str, Any], known: Mapping[str, ExpertCard]
                 ) -> tuple[list[ExpertCard], dict[str, Any]]:
    """Cards and runnable objects for `experts`, describing each from itself or `known`.

    Args:
        experts: name -> object, `(object, description)` or a dict with `runnable`.
        known: Cards an expert without a description of its own takes (same name).

    Returns:
        One card per expert (in the given order) and name -> object to run.
    """
    cards: list[ExpertCard] = []
    objects: dict[str, Any] = {}
    for name, value in experts.items():
        obj, fields = unpack(name, value)
        _check_runnable(name, obj)
        if isinstance(obj, BaseTool):
            fields.setdefault("description", obj.description)
        if "description" not in fields:
            if name not in known:
                raise ExpertCardError(
                    f"expert {name!r} has no description to route by: give one, as "
                    f"experts={{{name!r}: (expert, 'what it is good at')}}, or name a card "
                    f"({', '.join(sorted(known)) or 'none known'}).")
            card = {**known[name].model_dump(), "backend": INLINE_BACKEND,
                    **{key: fields[key] for key in ("examples", "system_prompt",
                                                     "max_concurrency")
                       if fields.get(key) is not None}}
            cards.append(_validated(name, functools.partial(ExpertCard, **card)))
        else:
            cards.append(_card(name, fields))
        objects[name] = obj
    return cards, objects


def unmatched_error(names: Iterable[str], cards: Iterable[str]) -> ExpertCardError:
    """The error for experts named after no card of a registry."""
    return ExpertCardError(
        f"experts {', '.join(sorted(names))} have no card among {', '.join(sorted(cards))}; "
        "add a card with that name, or give the experts with descriptions and no registry "
        "(build_graph(experts=...), ExpertRegistry.from_experts).")


def unpack(name: str, value: Any) -> tuple[Any, dict[str, Any]]:
    """An expert's object and the card fields given with it.

    `value` is the object, `(object, description)` or a dict with `runnable`.
    """
    if isinstance(value, tuple):
        if len(value) != 2 or not isinstance(value[1], str):
            raise ExpertCardError(
                f"expert {name!r}: a tuple is (expert, description); got {len(value)} items.")
        return value[0], {"description": value[1]}
    if isinstance(value, Mapping):
        unknown = set(value) - _FIELDS
        if "runnable" not in value or unknown:
            raise ExpertCardError(
                f"expert {name!r}: a dict has `runnable` and optionally description, examples, "
                f"system_prompt, max_concurrency; got {', '.join(sorted(value))}.")
        return value["runnable"], {k: v for k, v in value.items() if k != "runnable"}
    return value, {}


def _card(name: str, fields: dict[str, Any]) -> ExpertCard:
    description = str(fields["description"] or "").strip()
    examples: Iterable[str] = fields.get("examples") or [description]
    return _validated(name, functools.partial(
        ExpertCard, name=name, description=description, examples=list(examples),
        system_prompt=fields.get("system_prompt") or "", backend=INLINE_BACKEND,
        max_concurrency=fields.get("max_concurrency")))


def _validated(name: str, make: Callable[[], ExpertCard]) -> ExpertCard:
    try:
        return make()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors())
        raise ExpertCardError(f"expert {name!r}: {problems}") from exc


def _tool_expert(name: str, tool: BaseTool) -> Runnable:
    """A tool as an expert: its one argument gets the question (earlier answers first)."""
    arguments = list(tool.args)
    if len(arguments) != 1:
        raise ExpertCardError(
            f"expert {name!r}: the tool {tool.name!r} takes {len(arguments)} arguments "
            f"({', '.join(arguments)}); an expert tool takes one text argument.")

    def text(payload: dict[str, Any]) -> dict[str, str]:
        context = payload.get("context") or ""
        return {arguments[0]: f"{context}{payload['question']}" if context else
                payload["question"]}

    def run(payload: dict[str, Any]) -> Any:
        return tool.invoke(text(payload))

    async def arun(payload: dict[str, Any]) -> Any:
        return await tool.ainvoke(text(payload))

    return RunnableLambda(run, afunc=arun, name=f"expert:{name}")
