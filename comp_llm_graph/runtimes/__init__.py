"""Model runtimes: where the planner's, the experts' and the aggregator's tokens come from.

- `local`: `LocalChatModel`, a LangChain chat model on local weights (the embedded SmolLM2), built
  from `pool` (resident models within a memory budget), `weights` (installed packages, the
  de-quantised GGUF cache), `batching` (concurrent calls gathered into batches) and `decoding`
  (greedy and grammar-constrained generation on transformers).
- `openai_compat`: chat models on OpenAI-compatible servers (vLLM, TGI, Ollama, llama.cpp).

Nothing here knows about experts, routing or the graph; heavy libraries (torch, transformers,
xgrammar) are imported on first generation, not on import.
"""
