"""Stream chunks as a caller sees them: the run's internal state keys left out.

The state holds a few keys the executor needs between steps (`State` beyond `OutputState`:
the scheduler token, the react flag, the run settings `dispatch` reads). The output schema keeps
them out of `invoke`; `updates` and `values` are streamed with the output keys only
(`output_keys`, a public `astream` argument); `tasks` and `debug` show node inputs and results,
so their chunks are copied without those keys here. Nothing the graph uses is changed: the
chunk's dicts are rebuilt, the values in them (messages, answers) are shared.
"""

from __future__ import annotations

from typing import Any

from comp_llm_graph.state import OutputState, State

__all__ = ["INTERNAL_KEYS", "needs_view", "public"]

INTERNAL_KEYS = frozenset((State.__required_keys__ | State.__optional_keys__)
                          - (OutputState.__required_keys__ | OutputState.__optional_keys__))
"""State keys a caller never sees (`run_token`, `react_finished`, `schedule`, ...)."""
_VIEWED = ("tasks", "debug")
_DEPTH = 5  # a chunk's dicts: (ns, mode, {payload: {input: {...}}})


def needs_view(stream_mode: Any) -> bool:
    """Whether chunks of these stream modes can carry node inputs or results."""
    modes = [stream_mode] if isinstance(stream_mode, str) else list(stream_mode or ())
    return any(mode in _VIEWED for mode in modes)


def public(chunk: Any, depth: int = 0) -> Any:
    """`chunk` with every dict in it (to `_DEPTH` levels) rebuilt without `INTERNAL_KEYS`."""
    if depth > _DEPTH:
        return chunk
    if isinstance(chunk, dict):
        return {key: public(value, depth + 1) for key, value in chunk.items()
                if key not in INTERNAL_KEYS}
    if isinstance(chunk, tuple):
        return tuple(public(value, depth + 1) for value in chunk)
    if isinstance(chunk, list):
        return [public(value, depth + 1) for value in chunk
                if not (isinstance(value, tuple) and len(value) == 2
                        and value[0] in INTERNAL_KEYS)]
    return chunk
