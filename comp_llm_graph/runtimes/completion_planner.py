"""A planner on a base (non-chat) model: the plan is the continuation of a few-shot text.

A base model has no chat template, but it continues a pattern well. The planner's messages
(its instructions, the demonstrations as earlier turns, then the query) are rendered as one text:

    <instructions>

    Question: Who is the spouse of the performer of the album Green?
    q1: Who performed the album Green?
    q2: Who is the spouse of {q1}?

    Question: <the user's question>

and the model writes the plan in the line format (`q1: ...` per line, `{qk}` references) until
it leaves a blank line. Gemma 3 270M (base, `gemma3-270m` in the model catalogue)
planned this way writes more valid plans, closer in size to the gold ones, than the chat-tuned
SmolLM2 with the same demonstrations (docs/planning.md): `planner="gemma3"`.

Greedy decoding of a small model loops ("q3" repeating "q2"); DRY (llama.cpp's "don't repeat
yourself" sampler) penalises repeating a run of more than `dry_allowed_length` tokens of the
last `dry_window` tokens, so a sub-question is not written twice while the short `{q1}`
references stay free. llama.cpp's plain repetition penalty would penalise the references too
(measured: no dependency written).
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.messages import BaseMessage

from comp_llm_graph.planning.plan import plan_lines
from comp_llm_graph.runtimes.llamacpp import LlamaCppChatModel

__all__ = ["CompletionPlanner", "gemma3_planner", "render_prompt"]


def render_prompt(messages: list[BaseMessage]) -> str:
    """The planner's messages as one few-shot text that ends where the plan begins.

    A system message is the header; each human/AI pair is a demonstration; the last human
    message is the question to plan.
    """
    header = [str(m.content) for m in messages if m.type == "system"]
    turns = [m for m in messages if m.type != "system"]
    if not turns or turns[-1].type != "human":
        raise ValueError("a planner prompt ends with the question to plan (a human message)")
    text = "\n\n".join(header) + "\n\n" if header else ""
    for question, plan in zip(turns[:-1:2], turns[1:-1:2], strict=True):
        text += f"Question: {question.content}\n{plan_lines(str(plan.content))}\n\n"
    return text + f"Question: {turns[-1].content}\n"


class CompletionPlanner(LlamaCppChatModel):
    """A planner chat model on a base GGUF model, prompted as a text completion (module doc)."""

    plan_grammar: bool = True
    """Planning calls: the sub-query generator passes `max_subqueries`."""
    plan_format: Literal["json", "lines"] = "lines"
    """The plan is written as lines (`q1: ...`)."""
    weight_format: str | None = None
    """Run the shipped Q4_K_M weights as they are."""
    demonstration_count: int = 4
    """Demonstrations shown per query (4 planned better than 2 here; docs/planning.md)."""
    dry_multiplier: float = 0.8
    """Strength of the DRY penalty (0: off)."""
    dry_allowed_length: int = 4
    """Runs of up to this many tokens may repeat freely (`{q1}` references, names)."""
    dry_window: int = 48
    """How many recent tokens DRY looks back over (about the plan written so far)."""

    def _request(self, messages: list[BaseMessage], stop: list[str] | None,
                 kwargs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        request: dict[str, Any] = {
            "prompt": render_prompt(messages), "max_tokens": self.max_new_tokens,
            "temperature": self.temperature, "cache_prompt": self.cache_prompt,
            "stop": [*(stop or []), "\n\n", "\nQuestion:"],
            "dry_multiplier": self.dry_multiplier,
            "dry_allowed_length": self.dry_allowed_length,
            "dry_penalty_last_n": self.dry_window,
        }
        return request, True


def gemma3_planner(max_new_tokens: int = 320, **kwargs: Any) -> CompletionPlanner:
    """Gemma 3 270M (base) as a few-shot completion planner; nothing loads yet."""
    return CompletionPlanner(model="gemma3-270m", max_new_tokens=max_new_tokens, **kwargs)
