"""Planning: from a user's turn to a validated plan of sub-queries.

- `conversation` and `referents`: the turn's question, with a follow-up's referring words
  resolved from the earlier turn;
- `query_parts`: the query's material, and the parts the user already enumerated;
- `planner`: asking the planner (prompt, call, validation, repair, one re-ask, the fallback);
- `early_starts`: sub-queries started from the planner's tokens as they stream (callbacks);
- `demonstrations`: the planner's bank of gold decompositions, nearest ones per query;
- `plan`, `plan_schema`, `json_scan`: the plan as data, parsed (also while it is being written),
  validated and repaired into a DAG; `grammar`: the plan grammars of constrained decoding;
- `anaphora`: a dependent sub-question that describes its dependency gets its value.

The node that runs them is `nodes/generate_subqueries.py`; nothing here imports a node. The plan
format (`plan`, `json_scan`, `grammar`) imports only `errors` (and the state's types when type
checking), because the engines in `runtimes/` apply its grammars.
"""
