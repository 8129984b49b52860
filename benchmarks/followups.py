"""Follow-up resolution on the two-turn conversations of `tests/data/followups*.json`.

Each conversation gives the first question, its answer and a follow-up with a referring word,
and the entity the word means (`referent`; alternatives separated by `|`), or null where the
follow-up is ambiguous and must be left as asked. Four sets: `followups.json` (36, written with
the rules), `followups_heldout.json` and `followups_final.json` (30 each, written apart by
someone who had not seen the rules; the misses of each shaped a further round of rules) and
`followups_untouched.json` (30, written the same way and measured once, after every round).
Prints the rate per set and every miss:

    .venv/bin/python benchmarks/followups.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from comp_llm_graph.planning.conversation import standalone
from comp_llm_graph.planning.referents import is_value

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
SETS = ("followups.json", "followups_heldout.json", "followups_final.json",
        "followups_untouched.json")


def outcome(item: dict) -> tuple[bool, str | None]:
    """(right, what the follow-up's words were taken to mean)."""
    turn = standalone(item["q2"], (item["q1"], item["a1"]))
    want = item["referent"]
    if want is None:
        return turn.referent is None, turn.referent
    got = (turn.referent or "").lower()
    return any(w.lower() in got for w in want.split("|")), turn.referent


def rates(name: str) -> tuple[int, int, int, list[str]]:
    """(right, total, bare numbers taken as referents, misses) on one set."""
    items = json.loads((DATA / name).read_text(encoding="utf-8"))
    right, numbers, misses = 0, 0, []
    for item in items:
        ok, got = outcome(item)
        right += ok
        numbers += bool(got and is_value(got))
        if not ok:
            misses.append(f"{item['q2']!r} after {item['q1']!r} / {item['a1']!r}: took "
                          f"{got!r}, want {item['referent']!r}")
    return right, len(items), numbers, misses


def main() -> int:
    totals = [0, 0, 0]
    for name in SETS:
        right, total, numbers, misses = rates(name)
        for miss in misses:
            print(f"miss ({name}): {miss}")
        print(f"{name}: {right}/{total} resolved right or left as asked ({right / total:.2f}); "
              f"bare numbers as referents: {numbers}")
        totals = [totals[0] + right, totals[1] + total, totals[2] + numbers]
    print(f"all: {totals[0]}/{totals[1]} ({totals[0] / totals[1]:.2f}); bare numbers: "
          f"{totals[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
