"""GGUF files: their metadata, and their weights re-encoded in another format (F16, Q8_0, ...).

The embedded SmolLM2 ships as Q4_1, whose prompt processing is slow in llama.cpp and whose
rounding flips near-tie tokens; `benchmarks/weight_formats.py` measures each format, and the
engine uses the chosen one (`DEFAULT_FORMAT` in `llamacpp.py`), made here at first use and cached.

Every quantised tensor is de-quantised to float32 and quantised again (`gguf.quants`, numpy);
F32 tensors (norms) are copied. The metadata is copied byte for byte (only `general.file_type`
is patched), which is why this reads the header itself: `gguf.GGUFReader` turns the 49k-entry
vocabulary into Python objects and takes seconds for it.
"""

from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from comp_llm_graph.cache import model_file

__all__ = ["FORMATS", "convert_gguf", "converted_copy", "gguf_integers", "gguf_vocabulary"]

FORMATS = ("F16", "Q8_0", "Q5_0", "Q5_1", "Q4_0", "Q4_1")
"""Formats a copy can be written in (those `gguf.quants` can write)."""

_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
"""GGUF metadata value type -> byte size (8 is a string, 9 an array)."""
_INTEGER = {4: "<I", 5: "<i", 10: "<Q", 11: "<q"}
"""GGUF metadata value types that are integers -> struct format."""
_FILE_TYPE = {"F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9}
"""`general.file_type` of a file mostly in each format (llama.cpp's `llama_ftype`)."""


@dataclass
class _Tensor:
    name: bytes
    shape: tuple[int, ...]
    """Dimensions as GGUF stores them (the fastest-varying first)."""
    qtype: int
    offset: int


class _Header:
    """The parts of a GGUF header a conversion needs, read with struct from a memory map."""

    def __init__(self, data: memoryview, string_arrays: frozenset[str] = frozenset()):
        self.data = data
        self.pos = 0
        if bytes(data[:4]) != b"GGUF":
            raise ValueError("not a GGUF file")
        self.version, n_tensors, n_kv = struct.unpack_from("<IQQ", data, 4)
        self.pos = 24
        self.alignment = 32
        self.file_type_at: int | None = None
        self.integers: dict[str, int] = {}
        """Metadata holding one integer (u32, i32, u64, i64), e.g. `llama.block_count`."""
        self.strings: dict[str, str] = {}
        """Metadata holding one string, e.g. `tokenizer.ggml.model`."""
        self.string_arrays: dict[str, list[str]] = {}
        """The arrays of strings named in `string_arrays` (the vocabulary is large: read on
        request only)."""
        for _ in range(n_kv):
            key = self._string()
            kind = self._u32()
            if kind == 8:
                self.strings[key.decode()] = self._peek_string()
            elif kind == 9 and key.decode() in string_arrays:
                self.string_arrays[key.decode()] = self._string_array()
                continue
            if kind in _INTEGER:
                self.integers[key.decode()] = struct.unpack_from(_INTEGER[kind], data,
                                                                 self.pos)[0]
            if key == b"general.alignment" and kind == 4:
                self.alignment = struct.unpack_from("<I", data, self.pos)[0]
            if key == b"general.file_type" and kind in (4, 5):
                self.file_type_at = self.pos
            self._skip(kind)
        self.kv_end = self.pos
        self.tensors = []
        for _ in range(n_tensors):
            name = self._string()
            dims = struct.unpack_from(f"<{self._u32()}Q", data, self.pos)
            self.pos += 8 * len(dims)
            qtype, offset = struct.unpack_from("<IQ", data, self.pos)
            self.pos += 12
            self.tensors.append(_Tensor(name, dims, qtype, offset))
        self.data_start = -(-self.pos // self.alignment) * self.alignment

    def _u32(self) -> int:
        value = struct.unpack_from("<I", self.data, self.pos)[0]
        self.pos += 4
        return value

    def _string(self) -> bytes:
        length = struct.unpack_from("<Q", self.data, self.pos)[0]
        self.pos += 8 + length
        return bytes(self.data[self.pos - length:self.pos])

    def _peek_string(self) -> str:
        length = struct.unpack_from("<Q", self.data, self.pos)[0]
        return bytes(self.data[self.pos + 8:self.pos + 8 + length]).decode("utf-8", "replace")

    def _string_array(self) -> list[str]:
        item, count = struct.unpack_from("<IQ", self.data, self.pos)
        if item != 8:
            raise ValueError("expected an array of strings")
        self.pos += 12
        return [self._string().decode("utf-8", "replace") for _ in range(count)]

    def _skip(self, kind: int) -> None:
        if kind == 8:
            self.pos += 8 + struct.unpack_from("<Q", self.data, self.pos)[0]
        elif kind == 9:
            item, count = struct.unpack_from("<IQ", self.data, self.pos)
            self.pos += 12
            if item in _SCALAR:
                self.pos += _SCALAR[item] * count
            else:
                for _ in range(count):
                    self._skip(item)
        else:
            self.pos += _SCALAR[kind]


def _recode(raw: np.ndarray, tensor: _Tensor, target: str) -> tuple[np.ndarray, int]:
    """(bytes, GGML type) of one tensor in the target format; F32 tensors stay as they are."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
    from gguf.quants import dequantize, quantize

    source = GGMLQuantizationType(tensor.qtype)
    if source == GGMLQuantizationType.F32:
        return raw, tensor.qtype
    rows = tuple(reversed(tensor.shape))  # numpy order: the last dimension varies fastest
    block, size = GGML_QUANT_SIZES[source]
    weights = dequantize(raw.reshape(*rows[:-1], rows[-1] // block * size), source)
    kind = GGMLQuantizationType[target]
    if kind != GGMLQuantizationType.F16 and rows[-1] % GGML_QUANT_SIZES[kind][0]:
        kind = GGMLQuantizationType.F16  # rows that do not split into whole blocks
    if kind == GGMLQuantizationType.F16:
        return weights.astype(np.float16).reshape(-1).view(np.uint8), int(kind)
    return quantize(weights, kind).reshape(-1), int(kind)


def convert_gguf(source: str | Path, target: str | Path, fmt: str) -> Path:
    """Write `source`'s weights in format `fmt` to `target` (atomically: a temporary file, renamed).

    Raises:
        ValueError: an unknown format, or `source` is not a GGUF file.
    """
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    if fmt not in FORMATS:
        raise ValueError(f"unknown weight format {fmt!r}; choose from {', '.join(FORMATS)}")
    source, target = Path(source), Path(target)
    data = np.memmap(source, dtype=np.uint8, mode="r")
    header = _Header(memoryview(data))
    recoded = []
    for index, tensor in enumerate(header.tensors):
        end = (header.tensors[index + 1].offset if index + 1 < len(header.tensors)
               else len(data) - header.data_start)
        kind = GGMLQuantizationType(tensor.qtype)
        block, size = GGML_QUANT_SIZES[kind]
        nbytes = int(np.prod(tensor.shape)) // block * size
        start = header.data_start + tensor.offset
        recoded.append(_recode(np.asarray(data[start:start + min(nbytes, end)]), tensor, fmt))
    meta = bytearray(data[:header.kv_end])
    if header.file_type_at is not None:
        struct.pack_into("<I", meta, header.file_type_at, _FILE_TYPE[fmt])
    infos, offset, align = bytearray(), 0, header.alignment
    for tensor, (raw, kind) in zip(header.tensors, recoded, strict=True):
        infos += struct.pack("<Q", len(tensor.name)) + tensor.name
        infos += struct.pack(f"<I{len(tensor.shape)}Q", len(tensor.shape), *tensor.shape)
        infos += struct.pack("<IQ", kind, offset)
        offset += -(-raw.nbytes // align) * align
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(meta)
            out.write(infos)
            out.write(b"\0" * (-(len(meta) + len(infos)) % align))
            for raw, _kind in recoded:
                out.write(raw.tobytes())
                out.write(b"\0" * (-raw.nbytes % align))
        os.replace(staging, target)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return target


def converted_copy(source: str | Path, fmt: str, cache_dir: str | Path | None = None) -> Path:
    """`source` in format `fmt`, made once and kept in `cache_dir` (default: the model cache).

    The default is `cache.model_file`: a copy already in the default cache is reused. The copy
    is keyed by the source file's size and modification time, so a reinstalled model is
    converted again.
    """
    source = Path(source)
    stat = source.stat()
    name = f"{source.stem}-{stat.st_size}-{stat.st_mtime_ns}.{fmt}.gguf"
    target = Path(cache_dir) / name if cache_dir else model_file(name, Path.is_file)
    if not target.is_file():
        convert_gguf(source, target, fmt)
    return target


def gguf_integers(path: str | Path) -> dict[str, int]:
    """The integer metadata of a GGUF file (layer count, head counts, context length, ...)."""
    data = np.memmap(path, dtype=np.uint8, mode="r")
    try:
        return _Header(memoryview(data)).integers
    finally:
        del data


def gguf_vocabulary(path: str | Path) -> tuple[dict[str, str], list[str], list[str]]:
    """A GGUF file's tokenizer: its string metadata, its tokens and its BPE merges."""
    data = np.memmap(path, dtype=np.uint8, mode="r")
    try:
        header = _Header(memoryview(data), frozenset({"tokenizer.ggml.tokens",
                                                      "tokenizer.ggml.merges"}))
        return (header.strings, header.string_arrays.get("tokenizer.ggml.tokens", []),
                header.string_arrays.get("tokenizer.ggml.merges", []))
    finally:
        del data
