"""A choice question scored by its letters: the options shown, the first token's distribution.

One request reads the model's distribution over the option letters from its first token
(`runtimes/logprobs.letter_logprobs`): one prompt to process instead of one per option. Small
models favour a letter whatever the question (on MMLU val Qwen 0.5B answers (B) 94% of the
time, the 1.5B 57%), so the raw letters are debiased one of two ways:

- `letters` (content-free calibration, Zhao et al. 2021, "Calibrate Before Use"): the same
  prompt with "N/A" for the question and every option gives the model's prior over the letters,
  asked once per scorer and option count; each question's letter log-probabilities have it
  subtracted. One extra request in the scorer's life, none per question.
- `letters-rotated` (permutation debiasing, Zheng et al. 2024, "Large Language Models Are Not
  Robust Multiple Choice Selectors"): the options asked once in each cyclic rotation; an option's
  score is its mean over the places it was shown in, which cancels a place prior exactly at one
  request per option.
- `letters-raw`: one request, the bias kept.

`docs/models.md` has the measurement of each on every catalogue model.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from statistics import fmean
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate

from comp_llm_graph.experts.answer_form import AnswerForm

__all__ = ["CONTENT_FREE", "LetterScorer", "shown"]

CONTENT_FREE = "N/A"


def shown(stem: str, choices: tuple[str, ...] | list[str]) -> str:
    """The question with its options one per line, lettered in the order given."""
    return "\n".join([stem, *(f"({'ABCDEFGHIJ'[i]}) {c}" for i, c in enumerate(choices))])


class LetterScorer:
    """Scores a choice question's options by letter with one of the methods above.

    Args:
        chat_model: A model with `score_letters` / `ascore_letters` (the llama.cpp models).
        prompt: A chat template with `{context}` and `{question}`.
        method: `letters`, `letters-rotated` or `letters-raw`.
    """

    def __init__(self, chat_model: Any, prompt: ChatPromptTemplate, method: str) -> None:
        self.chat_model, self.prompt, self.method = chat_model, prompt, method
        self._priors: dict[int, list[float]] = {}

    def _messages(self, form: AnswerForm, context: str, shift: int = 0) -> list[BaseMessage]:
        options = form.choices[shift:] + form.choices[:shift]
        return self.prompt.format_messages(context=context, question=shown(form.stem, options))

    def _shifts(self, form: AnswerForm) -> range:
        return range(len(form.choices) if self.method == "letters-rotated" else 1)

    def _content_free(self, count: int) -> list[BaseMessage]:
        return self._messages(AnswerForm("choice", CONTENT_FREE, (CONTENT_FREE,) * count), "")

    def _combine(self, form: AnswerForm, rounds: list[list[float]]) -> list[float]:
        count = len(form.choices)
        scores = [fmean(scores[(index - shift) % count] for shift, scores in enumerate(rounds))
                  for index in range(count)]
        if self.method == "letters":
            scores = [s - p for s, p in zip(scores, self._priors[count], strict=True)]
        return scores

    def score(self, form: AnswerForm, context: str) -> tuple[list[float], int]:
        """`(a score per option, requests made)` for the choice question `form`."""
        count, letters = len(form.choices), form.letters
        if self.method == "letters" and count not in self._priors:
            self._priors[count] = self.chat_model.score_letters(self._content_free(count),
                                                                letters)
        shifts = self._shifts(form)
        with ThreadPoolExecutor(max_workers=len(shifts)) as pool:
            rounds = list(pool.map(lambda shift: self.chat_model.score_letters(
                self._messages(form, context, shift), letters), shifts))
        return self._combine(form, rounds), len(rounds)

    async def ascore(self, form: AnswerForm, context: str) -> tuple[list[float], int]:
        """`score` without blocking the event loop."""
        count, letters = len(form.choices), form.letters
        if self.method == "letters" and count not in self._priors:
            self._priors[count] = await self.chat_model.ascore_letters(
                self._content_free(count), letters)
        rounds = await asyncio.gather(*(self.chat_model.ascore_letters(
            self._messages(form, context, shift), letters) for shift in self._shifts(form)))
        return self._combine(form, list(rounds)), len(rounds)
