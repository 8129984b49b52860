"""Planning: from a user's turn to a validated plan of sub-queries.

- `conversation` and `referents`: the turn's question, with a follow-up's referring words
  resolved from the earlier turn;
- `query_parts`: the query's material, and the parts the user already enumerated;
- `demonstrations`: the planner's bank of gold decompositions, nearest ones per query;
- `plan`, `plan_schema`, `json_scan`: planner output parsed, validated and repaired into a DAG,
  plans as values, and the grammars of constrained decoding;
- `anaphora`: a dependent sub-question that describes its dependency gets its value.

The node that runs them is `nodes/generate_subqueries.py`; nothing here imports a node.
"""
