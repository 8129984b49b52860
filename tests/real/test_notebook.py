"""The quickstart notebook's code runs top to bottom on the real models."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.real
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


async def test_quickstart_notebook_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cells = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    namespace: dict = {}
    for cell in cells:
        source = "".join(cell["source"])
        # top-level await, as in Jupyter
        code = compile(source, str(NOTEBOOK), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, namespace)  # noqa: S307 - the project's own notebook
        if result is not None:
            await result
    out = capsys.readouterr().out
    assert "generate_subqueries" in out and "final:" in out
    assert namespace["state"]["final_answer"].strip()
    assert "sequential" in out and "monolithic" in out and "react" in out
    assert "start_as_ready {'median_ratio_to_critical_path'" in out
    assert Path(namespace["timeline"]).read_bytes()[:4] == b"\x89PNG"
