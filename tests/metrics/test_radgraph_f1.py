"""radgraph_f1: F1 through radgraph's reward functions, and the missing-weights error (offline)."""

from __future__ import annotations

import tarfile
import time

import pytest
from rrg.errors import MissingDependencyError
from rrg.metrics import radgraph_f1


def entity(tokens, label, relations=()):
    return {
        "tokens": tokens,
        "label": label,
        "start_ix": 0,
        "end_ix": 0,
        "relations": [list(r) for r in relations],
    }


HYP = {"text": "mild edema in the left lung", "entities": {
    "1": entity("edema", "Observation::definitely present", [("located_at", "2")]),
    "2": entity("lung", "Anatomy::definitely present"),
    "3": entity("mild", "Observation::definitely present"),
}}  # fmt: skip
REF = {"text": "edema in the right lung", "entities": {
    "1": entity("edema", "Observation::definitely present", [("located_at", "2")]),
    "2": entity("lung", "Anatomy::definitely present"),
    "3": entity("right", "Anatomy::definitely present", [("modify", "2")]),
}}  # fmt: skip
EMPTY = {"text": "", "entities": {}}


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_f1_levels_on_annotations():
    from radgraph.rewards import (
        exact_entity_token_if_all_match_reward,
        exact_entity_token_if_rel_exists_reward,
        exact_entity_token_match_reward,
    )

    # simple: {edema, lung, mild} vs {edema, lung, right}: P = R = 2/3
    assert radgraph_f1.f1_from_annotations(HYP, REF, "simple") == pytest.approx(2 / 3)
    # partial: (edema, rel) and (lung, no rel) shared; mild/no-rel vs right/rel differ
    assert radgraph_f1.f1_from_annotations(HYP, REF, "partial") == pytest.approx(2 / 3)
    assert radgraph_f1.f1_from_annotations(HYP, REF, "simple") == exact_entity_token_match_reward(
        HYP, REF
    )
    assert radgraph_f1.f1_from_annotations(
        HYP, REF, "partial"
    ) == exact_entity_token_if_rel_exists_reward(HYP, REF)
    assert radgraph_f1.f1_from_annotations(
        HYP, REF, "complete"
    ) == exact_entity_token_if_all_match_reward(HYP, REF)
    assert radgraph_f1.f1_from_annotations(REF, REF, "complete") == 1.0
    assert radgraph_f1.f1_from_annotations(EMPTY, REF) == 0.0
    with pytest.raises(ValueError):
        radgraph_f1.f1_from_annotations(HYP, REF, "all")


def test_scorer_pairs_annotations_and_scores_empty_texts_zero():
    calls = []

    def annotator(texts):
        calls.append(list(texts))
        return {str(i): HYP if "mild" in t else REF for i, t in enumerate(texts)}

    scorer = radgraph_f1.RadGraphF1(annotator=annotator)
    values = scorer.score_pairs(
        ["mild edema", "", "edema right"], ["edema right", "edema right", "edema right"]
    )
    assert values == [pytest.approx(2 / 3), 0.0, 1.0]
    assert calls == [["mild edema", "edema right"]]  # each distinct text annotated once
    assert scorer.config() == {"model_type": "radgraph-xl", "reward_level": "partial"}


def test_missing_weights_fail_fast_with_one_line(tmp_path):
    scorer = radgraph_f1.RadGraphF1(model_cache_dir=tmp_path / "radgraph")
    start = time.monotonic()
    with pytest.raises(MissingDependencyError) as info:
        scorer.score_pairs(["a"], ["b"])
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "\n" not in message
    assert "StanfordAIMI/RRG_scorers" in message and "radgraph-xl.tar.gz" in message
    assert str(tmp_path / "radgraph") in message
    assert info.value.exit_code == 2


def test_default_cache_is_the_radgraph_package_one(tmp_path):
    from importlib.metadata import version

    assert radgraph_f1.radgraph_cache_dir() == tmp_path / "cache" / "radgraph" / version("radgraph")


def _cached_archive(cache, filename, members):
    """Put ``filename`` into ``cache`` with the Hugging Face cache layout, as hf_hub_download does."""
    repo = cache / "models--StanfordAIMI--RRG_scorers"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    source = cache.parent / "members"
    source.mkdir()
    with tarfile.open(snapshot / filename, "w:gz") as tar:
        for name, text in members.items():
            (source / name).write_text(text)
            tar.add(source / name, arcname=name)


def test_cached_archive_is_extracted_and_missing_encoder_is_named(tmp_path):
    cache = tmp_path / "radgraph"
    config = '{"model": {"embedder": {"token_embedders": {"bert": {"model_name": "org/encoder"}}}}}'
    _cached_archive(cache, "radgraph-xl.tar.gz", {"config.json": config, "weights.th": "w"})
    model_dir = radgraph_f1.locate_radgraph_model("radgraph-xl", cache)
    assert model_dir == cache / "radgraph-xl"
    assert (model_dir / "config.json").read_text() == config
    scorer = radgraph_f1.RadGraphF1(model_cache_dir=cache, hf_cache_dir=tmp_path / "hf" / "hub")
    with pytest.raises(MissingDependencyError, match="encoder org/encoder") as info:
        scorer.annotate(["x"])
    assert str(tmp_path / "hf" / "hub") in str(info.value)
