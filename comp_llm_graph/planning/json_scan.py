"""JSON values in a model's free text (prose, code fences, output cut off by a token limit).

`json_values` takes time linear in the text: one pass matches brackets, then only the matched
spans are decoded, each on its own. (Trying the JSON decoder at every bracket, as a scan would,
is quadratic: each failure counts the lines before it; and a deep nesting raises RecursionError.)
`comp_llm_graph.planning.plan` re-exports it.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_JSON_DEPTH", "json_values"]

MAX_JSON_DEPTH = 32
"""Deepest nesting of a JSON value `json_values` decodes (a plan needs 4: object, list, object,
list); a deeper value is skipped whole, contents and all. The json module recurses once per level
and raises RecursionError near 1000."""

_SPECIAL = re.compile(r'[][{}"\\\n]')


def _bracket_spans(text: str) -> list[list[int]]:
    """Each `{` or `[` outside JSON strings as `[start, end, height]`, in the order they open.

    `end` is the position of the matching bracket, -1 for one that never closes; `height` is the
    nesting depth of the span (1 for `[]`). One pass over the text with a stack of open brackets:
    a closing bracket closes the innermost open one of its kind (those opened after it never
    close); one with no open bracket of its kind is ignored. Within an open bracket a `"` starts
    a string, which ends at the next unescaped `"` or at the line's end (JSON strings hold no raw
    newline, so a stray quote affects one line). Quotes outside brackets are prose.
    """
    spans: list[list[int]] = []
    stack: list[tuple[int, str]] = []  # (index in spans, bracket)
    open_count = {"{": 0, "[": 0}
    in_string, escaped = False, -1
    for match in _SPECIAL.finditer(text):
        i, char = match.start(), match.group()
        if in_string:
            if i == escaped and char != "\n":
                continue
            if char == "\\":
                escaped = i + 1
            elif char in '"\n':
                in_string = False
        elif char == '"':
            in_string = bool(stack)
        elif char in "{[":
            stack.append((len(spans), char))
            open_count[char] += 1
            spans.append([i, -1, 1])
        elif char in "}]":
            opener = "{" if char == "}" else "["
            while open_count[opener]:
                index, kind = stack.pop()
                open_count[kind] -= 1
                if stack:
                    parent = spans[stack[-1][0]]
                    parent[2] = max(parent[2], spans[index][2] + 1)
                if kind == opener:
                    spans[index][1] = i
                    break
    return spans


def json_values(text: str) -> tuple[list[Any], bool]:
    """Top-level JSON objects/arrays in the text, and whether an opening bracket failed to parse.

    After a value parses, scanning resumes after it, so the items of a complete list are not
    returned again; the items of a list cut off by a token limit are returned one by one. A value
    nested deeper than `MAX_JSON_DEPTH` is skipped with everything in it (and counts as failed).
    """
    decoder = json.JSONDecoder()
    values: list[Any] = []
    failed = False
    resume = 0  # the first position after the last value parsed or skipped
    for start, end, height in _bracket_spans(text):
        if start < resume:
            continue
        if end < 0 or height > MAX_JSON_DEPTH:
            failed = True
            resume = max(resume, end + 1)
            continue
        try:
            value, _ = decoder.raw_decode(text[start:end + 1])
        except ValueError:  # not JSON; or a number over Python's int digit limit
            failed = True
            continue
        values.append(value)
        resume = end + 1
    return values, failed
