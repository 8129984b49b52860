"""Evaluation of Comp-LLM: labelled data, routing / planning / end-to-end evaluation, benchmarks.

Kept apart from the runtime path: nothing in the graph, the nodes, the experts or the runtimes
imports this package; it sits on top of them (and under the CLI's `eval` and `bench` commands).
Imports run one way inside it, from the data up to the runs and reports:

- `data`: labelled questions for routing (the MMLU folders, or a CSV/JSONL file of your own).
- `routing`: routing accuracy, macro-F1, confusion and throughput on labelled questions.
- `planning_gold`: gold decompositions (MuSiQue, StrategyQA, Break, GSM8K) and their loaders.
- `planning`: plans scored against the gold (matching, edge F1, parallelism, valid plans).
- `scoring`: answer scoring (the letter of each MMLU part, SQuAD-style QA matching and F1).
- `e2e_data`: the end-to-end question sets (MMLU pairs, multi-hop QA).
- `e2e`: the same questions through the graph in several modes (accuracy, time, tokens).
- `reports`: drawn reports (the Gantt timeline of a run).
- `bench`: `comp-llm bench` (scheduler against the critical path, overhead, batching, models).

Nothing is imported here: import the module you need (some pull in models, scipy or matplotlib).
"""
