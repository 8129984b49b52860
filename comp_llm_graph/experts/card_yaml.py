"""Card files read with bounds: a card's size, and what its YAML aliases expand to.

YAML aliases let a 700-byte file stand for a billion strings ("billion laughs"): `safe_load`
builds the shared structure quickly, but printing, validating or embedding it walks every
copy. So the file is read up to `MAX_CARD_BYTES`, composed into YAML's node graph (aliases stay
shared there), and its expanded size is counted on that graph, with each shared node counted
once per use but computed once, before anything is built from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["MAX_CARD_BYTES", "MAX_EXPANDED_CHARS", "MAX_EXPANDED_NODES", "CardTooLarge",
           "read_card_yaml"]

MAX_CARD_BYTES = 256 * 1024
"""Largest card file read (a card is a name, a description, examples and a prompt)."""
MAX_EXPANDED_NODES = 100_000
"""Most values (strings, numbers, lists, mappings) a card may hold once aliases are expanded."""
MAX_EXPANDED_CHARS = 1_000_000
"""Most characters of text a card may hold once aliases are expanded."""


class CardTooLarge(ValueError):
    """The card, or what its aliases expand to, is over a bound; the message names it."""


def read_card_yaml(path: Path) -> Any:
    """The card's YAML data, after the bounds above.

    Raises:
        CardTooLarge: a bound is exceeded (named with its value).
        OSError, UnicodeDecodeError, yaml.YAMLError: the file cannot be read or parsed.
    """
    with path.open("rb") as handle:
        raw = handle.read(MAX_CARD_BYTES + 1)
    if len(raw) > MAX_CARD_BYTES:
        raise CardTooLarge(f"the card is larger than {MAX_CARD_BYTES // 1024} KiB "
                           "(MAX_CARD_BYTES); a card holds a description, examples and a prompt.")
    loader = yaml.SafeLoader(raw.decode("utf-8"))
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            nodes, chars = _expanded(node, {})
        except RecursionError as exc:
            raise CardTooLarge("the card's YAML is nested too deeply.") from exc
        if nodes > MAX_EXPANDED_NODES or chars > MAX_EXPANDED_CHARS:
            raise CardTooLarge(
                f"the card's YAML aliases expand to {nodes:,} values and {chars:,} characters, "
                f"more than {MAX_EXPANDED_NODES:,} values or {MAX_EXPANDED_CHARS:,} characters "
                "(MAX_EXPANDED_NODES, MAX_EXPANDED_CHARS); write the text out instead of "
                "repeating it through aliases.")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded(node: yaml.Node, seen: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """(values, characters) of `node` with every alias expanded; each node computed once."""
    key = id(node)
    if key in seen:
        return seen[key]
    seen[key] = (0, 0)  # a recursive alias counts nothing more on its way back
    if isinstance(node, yaml.ScalarNode):
        total = (1, len(node.value))
    else:
        children = (node.value if isinstance(node, yaml.SequenceNode)
                    else [part for pair in node.value for part in pair])
        counts = [_expanded(child, seen) for child in children]
        total = (1 + sum(n for n, _ in counts), sum(c for _, c in counts))
    seen[key] = total
    return total
