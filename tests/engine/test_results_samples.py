"""Predictions recorded by real runs (the demo chain: zero-shot, SFT, GRPO on a tiny twin) carry
the images the model was shown and their study id, and ``rrg samples`` lines the runs up on a
registry holding only those runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from rrg.cli import cli
from rrg.results.samples import side_by_side


def test_recorded_predictions_carry_existing_images_and_their_study(demo_chain):
    runs = (demo_chain.zero_shot, demo_chain.sft, demo_chain.grpo)
    for run in runs:
        predictions = run.predictions()
        assert predictions
        for prediction in predictions:
            assert prediction.image_paths, prediction.sample_id
            assert all(Path(path).is_file() for path in prediction.image_paths)
            names = [Path(path).name for path in prediction.image_paths]
            assert re.fullmatch(r"CXR\d+", prediction.study_id)
            assert all(name.startswith(f"{prediction.study_id}_") for name in names)
    first = {p.sample_id: (p.image_paths, p.study_id) for p in runs[0].predictions()}
    assert all(first[p.sample_id] == (p.image_paths, p.study_id) for p in runs[2].predictions())


def test_samples_side_by_side_on_the_demo_registry(demo_chain):
    registry = demo_chain.registry
    ids = [demo_chain.zero_shot.id, demo_chain.sft.id, demo_chain.grpo.id]
    result = side_by_side(registry, ids)
    assert [c.label for c in result.runs] == [
        f"Qwen2.5-VL (tiny), zero-shot ({ids[0]})", f"Qwen2.5-VL (tiny), SFT ({ids[1]})",
        f"Qwen2.5-VL (tiny), GRPO ({ids[2]})"]
    assert len(result.rows) == len(demo_chain.zero_shot.predictions())
    row = result.rows[0]
    recorded = {p.sample_id: p for p in demo_chain.sft.predictions()}[row.sample_id]
    assert row.outputs[1].prediction == recorded.prediction and row.image_paths == list(recorded.image_paths)

    cli_result = CliRunner().invoke(cli, ["samples", *ids, "--study", row.study_id, "--json", "--registry", registry.url])
    assert cli_result.exit_code == 0, cli_result.output
    data = json.loads(cli_result.output)
    assert row.sample_id in [s["sample_id"] for s in data["samples"]]
    assert {s["study_id"] for s in data["samples"]} == {row.study_id}
