"""Re-encoding GGUF weights: a small file written here, converted, read back with gguf's reader."""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize

from comp_llm_graph.runtimes.gguf_file import convert_gguf, converted_copy, gguf_integers

ROWS, COLUMNS = 8, 64


def _weights() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(ROWS, COLUMNS)).astype(np.float32)


@pytest.fixture
def source(tmp_path):
    """A model-shaped file: integer and string metadata, a vocabulary, a Q4_1 matrix, an F32 norm."""
    path = tmp_path / "tiny.Q4_1.gguf"
    writer = GGUFWriter(str(path), arch="llama")
    writer.add_block_count(2)
    writer.add_head_count(4)
    writer.add_file_type(3)
    writer.add_token_list(["<s>", "</s>", "hello", "world"])
    writer.add_string("general.name", "tiny")
    writer.add_tensor("blk.0.attn_q.weight", quantize(_weights(), GGMLQuantizationType.Q4_1),
                      raw_dtype=GGMLQuantizationType.Q4_1)
    writer.add_tensor("blk.0.attn_norm.weight", np.arange(COLUMNS, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.mark.parametrize("fmt", ["F16", "Q8_0", "Q4_0", "Q4_1"])
def test_conversion_keeps_metadata_and_the_weights_values(source, tmp_path, fmt):
    target = convert_gguf(source, tmp_path / f"tiny.{fmt}.gguf", fmt)
    before, after = GGUFReader(str(source)), GGUFReader(str(target))
    fields = {name: field.contents() for name, field in before.fields.items()
              if not name.startswith("GGUF.") and name != "general.file_type"}
    assert {name: after.fields[name].contents() for name in fields} == fields
    assert after.fields["general.file_type"].contents() == {"F16": 1, "Q8_0": 7, "Q4_0": 2,
                                                             "Q4_1": 3}[fmt]
    tensors = {t.name: t for t in after.tensors}
    matrix = tensors["blk.0.attn_q.weight"]
    assert matrix.tensor_type == GGMLQuantizationType[fmt]
    original = dequantize(before.tensors[0].data, GGMLQuantizationType.Q4_1)
    tolerance = {"F16": 1e-2, "Q8_0": 0.05, "Q4_0": 0.6, "Q4_1": 0.6}[fmt]
    assert np.abs(dequantize(matrix.data, matrix.tensor_type) - original).max() < tolerance
    norm = tensors["blk.0.attn_norm.weight"]
    assert norm.tensor_type == GGMLQuantizationType.F32
    assert np.array_equal(norm.data, np.arange(COLUMNS, dtype=np.float32))


def test_integers_are_read_from_the_header(source):
    integers = gguf_integers(source)
    assert integers["llama.block_count"] == 2
    assert integers["llama.attention.head_count"] == 4


def test_converted_copy_is_made_once_and_reused(source, tmp_path):
    first = converted_copy(source, "Q8_0", tmp_path / "cache")
    written = first.stat().st_mtime_ns
    second = converted_copy(source, "Q8_0", tmp_path / "cache")
    assert second == first and second.stat().st_mtime_ns == written
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.name]  # no staging left


def test_copies_are_made_in_the_model_folder_and_reused_from_the_default_cache(
        source, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("COMP_LLM_MODEL_DIR", str(tmp_path / "given" / "models"))
    made = converted_copy(source, "Q8_0")
    assert made.parent == tmp_path / "given" / "models"
    assert not (tmp_path / "xdg").exists()  # nothing written outside the folder given
    monkeypatch.setenv("COMP_LLM_MODEL_DIR", str(tmp_path / "xdg" / "comp-llm-graph" / "models"))
    shared = converted_copy(source, "F16")
    monkeypatch.setenv("COMP_LLM_MODEL_DIR", str(tmp_path / "other"))
    assert converted_copy(source, "F16") == shared  # already made in the default cache: reused
    assert not (tmp_path / "other").exists()


def test_unknown_format_and_non_gguf_files_are_refused(source, tmp_path):
    with pytest.raises(ValueError, match="unknown weight format 'Q3'"):
        convert_gguf(source, tmp_path / "x.gguf", "Q3")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all" * 10)
    with pytest.raises(ValueError, match="not a GGUF file"):
        convert_gguf(junk, tmp_path / "y.gguf", "F16")
    assert not (tmp_path / "y.gguf").exists()
