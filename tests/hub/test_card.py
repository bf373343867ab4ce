"""Model cards: metadata the Hub understands, validated with huggingface_hub, rendered strictly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from huggingface_hub import ModelCard
from rrg.builtin import CARD_TEMPLATES, card_template
from rrg.errors import RrgError
from rrg.hub.card import CardError, render_card, validate_card
from rrg.hub.run_record import NotPublishable, publishable_run
from rrg.metrics.green_flare import COMPONENTS as SEVEN

from .conftest import COMPONENTS_SFT, record_trained_run

GOLDEN = Path(__file__).parent / "golden" / "qwen3-vl-4b-grpo.md"
REGENERATE = "RRG_UPDATE_GOLDEN=1 python -m pytest tests/hub/test_card.py -k golden"


@pytest.fixture
def lineage_registry(recorded_lineage):
    from rrg import Registry

    with Registry.from_url(recorded_lineage.registry_url) as registry:
        yield registry


def test_every_shipped_template_is_indexed_and_exists() -> None:
    assert [t.name for t in CARD_TEMPLATES] == ["adapter"]
    assert card_template("adapter").path.is_file()


def test_grpo_card_metadata(lineage_registry, recorded_lineage) -> None:
    record = publishable_run(lineage_registry, recorded_lineage.grpo_id)
    rendered = render_card(record, "my-org/qwen3-vl-4b-iu-xray-grpo")
    card = ModelCard(rendered.text)
    data = card.data
    assert data.base_model == "Qwen/Qwen3-VL-4B-Instruct"
    assert data.get("base_model_relation") == "adapter"
    assert (data.library_name, data.pipeline_tag) == ("peft", "image-text-to-text")
    assert data.license == "cc-by-nc-4.0"
    assert {
        "radiology",
        "chest-x-ray",
        "report-generation",
        "rrg",
        "grpo",
        "non-commercial",
    } <= set(data.tags)
    assert "tiny-random-twin" not in data.tags
    assert data.datasets == ["FLARE-MedFM/FLARE-Task5-MLLM-2D"]
    results = {r.metric_type: r for r in data.eval_results}
    assert set(results) == {
        "green_flare",
        "bleu4_flare",
        "ce",
        *(f"green_flare_{c}" for c in SEVEN),
    }
    assert results["green_flare"].metric_value == 0.793
    assert results["green_flare_entity_matching"].metric_value == 0.813
    assert {r.dataset_split for r in data.eval_results} == {"validation-public"}
    assert data.model_name == "qwen3-vl-4b-iu-xray-grpo"


def test_grpo_card_body(lineage_registry, recorded_lineage) -> None:
    record = publishable_run(lineage_registry, recorded_lineage.grpo_id)
    text = render_card(record, "my-org/qwen3-vl-4b-iu-xray-grpo").text
    body = text.split("\n---\n", 1)[1]
    # lineage zero-shot -> SFT -> GRPO
    zero_shot = body.index("zero-shot (`Qwen/Qwen3-VL-4B-Instruct`, before training)")
    sft = body.index(f"| sft | `{recorded_lineage.sft_id}`")
    grpo = body.index(f"| grpo | `{recorded_lineage.grpo_id}`")
    assert zero_shot < sft < grpo
    assert (
        "| zero-shot (`Qwen/Qwen3-VL-4B-Instruct`, before training) | `"
        + recorded_lineage.sft_id
        + "` | qwen3-vl-4b-sft@2 | 0.6950 |"
        in body
    )
    # the recipe, embedded
    assert "name: qwen3-vl-4b-grpo" in body and "```yaml\nschema: 1" in body
    # metrics table with before/after, components with weights
    assert "| green_flare (FLARE 2025 lexical GREEN) | 0.7690 | 0.7930 |" in body
    assert "| Entity matching (0.30) | – | 0.8130 |" in body
    # naming note, use, loading, licence, citation
    assert "green_flare is not GREEN" in body and "Ostmeier et al." in body
    assert "Not for clinical use" in body
    assert "rrg pull my-org/qwen3-vl-4b-iu-xray-grpo" in body
    assert "adapter: hub:my-org/qwen3-vl-4b-iu-xray-grpo" in body
    assert 'PeftModel.from_pretrained(base, "my-org/qwen3-vl-4b-iu-xray-grpo")' in body
    assert 'AutoModelForImageTextToText.from_pretrained("Qwen/Qwen3-VL-4B-Instruct")' in body
    assert "CC BY-NC-ND 4.0" in body and "may not be used commercially" in body
    assert "@article{demner2016preparing" in body
    assert "Test artifact" not in body


def test_golden_card(lineage_registry, recorded_lineage) -> None:
    """The GRPO card against tests/hub/golden/ (run ids, recipe text and hash replaced by placeholders)."""
    record = publishable_run(lineage_registry, recorded_lineage.grpo_id)
    text = render_card(record, "my-org/qwen3-vl-4b-iu-xray-grpo").text
    text = text.replace(recorded_lineage.sft_id, "SFT_RUN").replace(
        recorded_lineage.grpo_id, "GRPO_RUN"
    )
    # the shipped recipe may evolve: keep its text and hash out of the comparison
    text = text.replace(record.recipe_yaml.rstrip("\n"), "RECIPE_YAML").replace(
        record.detail.recipe.hash[:12], "RECIPE_HASH"
    )
    if os.environ.get("RRG_UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    expected = GOLDEN.read_text(encoding="utf-8")
    assert text == expected, (
        f"the rendered card differs from {GOLDEN}; if the change is intended, regenerate with: {REGENERATE}"
    )


def test_tiny_run_card_names_the_reference_checkpoint_and_says_so(registry, trained_run) -> None:
    record = publishable_run(registry, trained_run.run_id)
    rendered = render_card(record, "my-org/demo-sft")
    data = ModelCard(rendered.text).data
    assert data.base_model == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert "tiny-random-twin" in data.tags
    assert data.datasets is None  # the demo set is not a Hub data set
    body = rendered.text.split("\n---\n", 1)[1]
    assert (
        body.lstrip().split("\n", 2)[2].startswith("> **Test artifact: a tiny random-weight twin")
    )
    assert "id: tiny" in body
    assert str(record.adapter_dir) not in rendered.text
    assert "/.cache/rrg" not in rendered.text


def test_rendering_is_deterministic(registry, trained_run) -> None:
    record = publishable_run(registry, trained_run.run_id)
    assert (
        render_card(record, "my-org/demo-sft").text
        == render_card(publishable_run(registry, trained_run.run_id), "my-org/demo-sft").text
    )


def test_validate_rejects_a_local_base_model_and_missing_fields() -> None:
    text = "---\nbase_model: /home/me/models/qwen\nlibrary_name: peft\n---\n# card\n"
    with pytest.raises(CardError) as caught:
        validate_card(text)
    message = str(caught.value)
    assert "base_model must be a Hub id" in message
    assert "license is missing" in message
    assert "model-index has no green_flare result" in message


def test_validate_rejects_unparsable_model_index() -> None:
    with pytest.raises(CardError, match="does not parse"):
        validate_card("---\nmodel-index: [{results: [{task: 3}]}]\n---\n")


def test_a_missing_template_value_fails(registry, trained_run, tmp_path, monkeypatch) -> None:
    """StrictUndefined: a template naming a value the record lacks fails instead of rendering a gap."""
    from rrg import builtin

    broken = tmp_path / "broken.md.j2"
    broken.write_text("---\n{{ card_data }}\n---\n{{ card.no_such_value }}\n")
    monkeypatch.setattr(
        builtin, "CARD_TEMPLATES", (builtin.CardTemplate("broken", "broken.md.j2", "test"),)
    )
    monkeypatch.setattr(builtin, "CARDS_DIR", tmp_path)
    record = publishable_run(registry, trained_run.run_id)
    with pytest.raises(CardError, match="no_such_value"):
        render_card(record, "my-org/demo-sft", template="broken")


def test_unknown_template_is_refused(registry, trained_run) -> None:
    with pytest.raises(RrgError, match="no card template called 'fancy'"):
        render_card(publishable_run(registry, trained_run.run_id), "my-org/x", template="fancy")


def test_a_local_base_model_is_refused(tmp_path) -> None:
    from rrg import Registry

    local = tmp_path / "qwen-copy"
    local.mkdir()
    with Registry.from_url(f"sqlite:///{tmp_path}/r.db") as registry:
        run_id = record_trained_run(
            registry,
            tmp_path / "runs",
            "paper/qwen3-vl-4b/sft",
            overrides=[f"model.id={local}"],
            components=COMPONENTS_SFT,
            metrics={"green_flare": 0.7},
        )
        with pytest.raises(NotPublishable, match="local folder") as caught:
            publishable_run(registry, run_id)
    assert "model.id" in caught.value.hint


def test_a_zero_shot_run_is_not_publishable(tmp_path) -> None:
    from rrg import Registry

    with Registry.from_url(f"sqlite:///{tmp_path}/r.db") as registry:
        run_id = record_trained_run(
            registry,
            tmp_path / "runs",
            "paper/qwen3-vl-4b/zero-shot",
            components=COMPONENTS_SFT,
            metrics={"green_flare": 0.7},
        )
        with pytest.raises(NotPublishable, match="trained no adapter"):
            publishable_run(registry, run_id)
