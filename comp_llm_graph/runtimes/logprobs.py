"""How likely a local model finds each of several replies: the log-probability of their tokens.

Used by experts that answer a multiple-choice or yes/no question by scoring the options rather
than generating free text (`comp_llm_graph.experts.answer_form`). Each option is tokenized as
the model would write it (`runtimes/tokenizer.py`), generation is forced through exactly those
tokens by a grammar of token ids, and llama.cpp reports each forced token's log-probability
under the model's unconstrained distribution; their sum is the option's score. The options of
one question run in parallel slots and share the prompt's cached tokens.

`letter_logprobs` is the cheaper way for options shown in the prompt: one request, one
generated token, and the distribution over the letters read from that token's top
log-probabilities (the prompt is processed once, not once per option).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["letter_logprobs", "reply_logprobs"]

TOP_LOGPROBS = 20
"""How many candidates of the first token llama.cpp reports; the letters are among them."""


def _grammar(ids: list[int]) -> str:
    return "root ::= " + " ".join(f"<[{i}]>" for i in ids)


def _score(server: Any, tokenizer: Any, request: dict[str, Any], reply: str) -> float:
    try:
        return _forced(server, request, _ids(tokenizer, reply))
    except RuntimeError as exc:
        # Text with stray bytes (mis-decoded quotes such as "bankÕs") can tokenize into pieces
        # llama.cpp's grammar rejects ("Unexpected empty grammar stack"): score it as ASCII.
        ascii_reply = reply.encode("ascii", "ignore").decode()
        if "grammar" not in str(exc) or ascii_reply == reply:
            raise
        return _forced(server, request, _ids(tokenizer, ascii_reply))


def _ids(tokenizer: Any, reply: str) -> list[int]:
    return tokenizer.encode(" ".join(reply.split()), add_special_tokens=False).ids


def _forced(server: Any, request: dict[str, Any], ids: list[int]) -> float:
    if not ids:
        return -math.inf
    response = server.complete({**request, "max_tokens": len(ids), "grammar": _grammar(ids),
                                "logprobs": True, "top_logprobs": 1})
    tokens = (response["choices"][0].get("logprobs") or {}).get("content") or []
    if [t.get("id") for t in tokens[:len(ids)]] != ids:
        raise RuntimeError("llama.cpp did not generate the forced tokens of an option")
    return float(sum(t["logprob"] for t in tokens[:len(ids)]))


def reply_logprobs(server: Any, tokenizer: Any, request: dict[str, Any],
                   replies: list[str]) -> list[float]:
    """The summed token log-probability of each reply as the answer to the chat `request`.

    Args:
        server: A loaded `LlamaServer`.
        tokenizer: The model's `tokenizers.Tokenizer`.
        request: The chat request (messages, sampling settings) the replies answer.
        replies: The candidate replies.

    Returns:
        One score per reply, in order (-inf for an empty reply).
    """
    with ThreadPoolExecutor(max_workers=max(1, len(replies))) as pool:
        return list(pool.map(lambda reply: _score(server, tokenizer, request, reply), replies))


def _letter(token: str) -> str:
    """The option letter a token names (`(B`, ` B`, `B)` all name B), or ''."""
    text = token.strip().strip("()").strip()
    return text if len(text) == 1 and text.isalpha() and text.isupper() else ""


def letter_logprobs(server: Any, request: dict[str, Any], letters: str) -> list[float]:
    """The log-probability of each option letter as the first token of the reply to `request`.

    The variants of a letter (`B`, `(B`, ` B`) are added together, then the letters'
    probabilities renormalised over `letters`; a letter outside the reported candidates gets
    the smallest reported log-probability less log 2 (the model all but rules it out).

    Returns:
        One log-probability per letter, in order (they sum to probability 1).
    """
    response = server.complete({**request, "max_tokens": 1, "logprobs": True,
                                "top_logprobs": TOP_LOGPROBS})
    content = (response["choices"][0].get("logprobs") or {}).get("content") or []
    top = content[0].get("top_logprobs", []) if content else []
    floor = min((t["logprob"] for t in top), default=0.0) - math.log(2)
    mass = {letter: 0.0 for letter in letters}
    for candidate in top:
        letter = _letter(candidate.get("token", ""))
        if letter in mass:
            mass[letter] += math.exp(candidate["logprob"])
    scores = [math.log(mass[letter]) if mass[letter] > 0 else floor for letter in letters]
    total = math.log(sum(math.exp(s) for s in scores))
    return [s - total for s in scores]
