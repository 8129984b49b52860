"""Model runtimes: where the planner's, the experts' and the aggregator's tokens come from.

- `llamacpp`: the engine. `LlamaCppChatModel`, a LangChain chat model on a GGUF file run by
  llama.cpp's server in-process (`llama_server`), with continuous batching, a prompt cache and a
  grammar per call; `completion_planner` plans on a base model as a few-shot completion;
  `logprobs` + `tokenizer` score given replies; `catalogue` names the models and verifies their
  files; `gguf_file` reads and re-encodes them; `pool` keeps loaded models within a memory
  budget; `weights` finds the installed model packages.
- `local`: the transformers path, for a Hugging Face folder (`LocalChatModel`, with `batching`
  and `decoding`).
- `openai_compat` + `replicas`: chat models on OpenAI-compatible servers (vLLM, TGI, Ollama,
  llama.cpp's server), one endpoint or several.

Nothing here knows about experts, routing or the graph (the plan grammars the engines apply come
from `planning.grammar`); heavy libraries are imported on first use, not on import.
"""
