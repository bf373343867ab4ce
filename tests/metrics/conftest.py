"""Fixtures for the metric tests: the public green_flare vectors (tests/fixtures/metric_vectors)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

VECTOR_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "metric_vectors"
LITERAL = Path(__file__).resolve().parents[2] / "benchmarks" / "green_flare_literal.py"


@pytest.fixture(scope="session")
def vectors() -> list[dict]:
    lines = (VECTOR_DIR / "green_flare_vectors.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="session")
def corpus_vectors() -> dict:
    data = json.loads((VECTOR_DIR / "corpus_vectors.json").read_text(encoding="utf-8"))
    return data["subsets"]["all"]


@pytest.fixture(scope="session")
def literal_green_flare() -> ModuleType:
    """The literal transcription of the specification (benchmarks/green_flare_literal.py)."""
    spec = importlib.util.spec_from_file_location("green_flare_literal", LITERAL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
