"""Plan grammars for constrained decoding, and the stop rule of a planner that repeats itself.

A planner decoded under `plan_grammar` (JSON) or `lines_plan_grammar` (`q1: ...` per line)
always writes a plan that parses, with ids in order and no forward reference, by construction.
What a grammar cannot forbid is a small model writing the same sub-question again until its token
limit: the engines stop generation at the first repeat (`cut_at_repeat`).
"""

from __future__ import annotations

import re

from comp_llm_graph.planning.plan import canonical_question

__all__ = ["cut_at_repeat", "format_grammar", "lines_plan_grammar", "plan_grammar"]


def plan_grammar(max_subqueries: int, max_question_chars: int = 160) -> str:
    """An EBNF grammar (xgrammar dialect) whose every sentence is a valid plan's JSON.

    Ids are fixed to q1..qN in order and sub-query k may depend only on q1..q(k-1), so a plan
    decoded under it always parses, has unique ids and no self or forward references (and thus
    no cycles), by construction. Repeated text is still possible and is merged by `repair_plan`.
    """
    if max_subqueries < 1:
        raise ValueError("max_subqueries must be at least 1")
    tail = "".join(f' ( ", " item{k}' for k in range(2, max_subqueries + 1))
    rules = [
        'root ::= "{\\"subqueries\\": [" item1' + tail + " )?" * (max_subqueries - 1) + ' "]}"'
    ]
    for k in range(1, max_subqueries + 1):
        deps = f" deps{k}?" if k > 1 else ""
        rules.append(
            f'item{k} ::= "{{\\"id\\": \\"q{k}\\", \\"question\\": " text '
            f'", \\"depends_on\\": ["{deps} "]}}"'
        )
        if k > 1:
            rules.append(f'deps{k} ::= ref{k} (", " ref{k})*')
            rules.append(f"ref{k} ::= " + " | ".join(f'"\\"q{j}\\""' for j in range(1, k)))
    rules.append(f'text ::= "\\"" [^"\\\\\\n]{{3,{max_question_chars}}} "\\""')
    return "\n".join(rules)


def lines_plan_grammar(max_subqueries: int, max_question_chars: int = 160) -> str:
    """A grammar (GBNF, also xgrammar's EBNF) whose every sentence is a valid plan in lines.

    `q1: ...` to `qN: ...`, one per line, ids fixed in order; sub-query k may reference only
    `{q1}`..`{q(k-1)}` (the only dependencies of the format), so every plan parses and is
    acyclic by construction, in a few tokens per sub-query.
    """
    if max_subqueries < 1:
        raise ValueError("max_subqueries must be at least 1")
    tail = "".join(f' ( "\\n" item{k}' for k in range(2, max_subqueries + 1))
    rules = ["root ::= item1" + tail + " )?" * (max_subqueries - 1)]
    for k in range(1, max_subqueries + 1):
        rules.append(f'item{k} ::= "q{k}: " text{k}')
        refs = " | ".join(f'"{{q{j}}}"' for j in range(1, k))
        piece = f"( [^{{}}\\n] | {refs} )" if k > 1 else "[^{}\\n]"
        rules.append(f"text{k} ::= {piece}{{3,{max_question_chars}}}")
    return "\n".join(rules)


def format_grammar(fmt: str, max_subqueries: int) -> str:
    """The plan grammar of a plan format: `json` (`plan_grammar`) or `lines`."""
    return (lines_plan_grammar if fmt == "lines" else plan_grammar)(max_subqueries)


_QUESTION_LINE = re.compile(r"^q(\d+): (.*)\n", re.MULTILINE)


_QUESTION_FIELD = re.compile(r'\{"id": "(q\d+)", "question": "((?:[^"\\]|\\.)*)"')


def cut_at_repeat(text: str) -> tuple[str, str] | None:
    """If the last complete sub-question of a grammar-shaped plan repeats an earlier one.

    Small planners tend to repeat a sub-question until the token limit. Generation can stop at
    the first repeat; this returns the plan up to the item before it (closed as valid JSON for
    the JSON format), and a note saying what was cut, or None when nothing repeats.
    """
    lines = list(_QUESTION_LINE.finditer(text))  # the line format: complete lines end in \n
    if len(lines) >= 2:
        last = lines[-1]
        if canonical_question(last.group(2)) in {canonical_question(m.group(2))
                                                 for m in lines[:-1]}:
            return text[: last.start()].rstrip("\n"), (
                f"generation stopped at q{last.group(1)}, which repeated an earlier "
                f"sub-question ({last.group(2)!r})")
        return None
    found = list(_QUESTION_FIELD.finditer(text))
    if len(found) < 2:
        return None
    last = found[-1]
    if canonical_question(last.group(2)) not in {canonical_question(m.group(2))
                                                 for m in found[:-1]}:
        return None
    head = text[: last.start()].rstrip().removesuffix(",").rstrip()
    return head + "]}", (f"generation stopped at {last.group(1)}, which repeated an earlier "
                         f"sub-question ({last.group(2)!r})")
