"""The notebooks run top to bottom on the embedded default (nbclient, a real kernel)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.real
NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_the_three_notebooks_are_kept_without_outputs():
    assert [p.name for p in NOTEBOOKS] == ["01_quickstart.ipynb", "02_custom_experts.ipynb",
                                           "03_evaluation.ipynb"]
    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        assert all(not c.get("outputs") and not c.get("execution_count")
                   for c in cells if c.cell_type == "code"), f"{path.name} has outputs"


def _run(path: Path, tmp_path: Path, monkeypatch) -> str:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return "\n".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []))


def test_quickstart(tmp_path, monkeypatch):
    text = _run(NOTEBOOKS[0], tmp_path, monkeypatch)
    assert "generate_subqueries" in text and "final:" in text
    assert "sequential" in text and "monolithic" in text and "react" in text
    assert "flowchart LR" in text  # the plan drawn as Mermaid (and as a PNG beside it)
    assert "start_as_ready {'median_ratio_to_critical_path'" in text


def test_custom_experts(tmp_path, monkeypatch):
    text = _run(NOTEBOOKS[1], tmp_path, monkeypatch)
    lines = text.splitlines()
    before = next(line for line in lines if line.startswith("default pack:"))
    after = next(line for line in lines if line.startswith("with music.yaml:"))
    assert not before.split(":")[1].strip().startswith("music")
    assert after.split(":")[1].strip().startswith("music")  # the new card wins the question
    assert "'embedded': 1" in text  # only the new card was embedded
    assert "q2 math" in text and "144" in text


def test_evaluation(tmp_path, monkeypatch):
    text = _run(NOTEBOOKS[2], tmp_path, monkeypatch)
    assert "'top1'" in text and "comp" in text and "monolithic" in text
