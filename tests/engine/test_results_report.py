"""`rrg report` from a registry holding only the demo's zero-shot → SFT → GRPO chain (tiny twins, a
few samples): a self-contained page with one row per stage, the engine's numbers, the lineage the
engine recorded, every figure the chain can give and the demo set's images as thumbnails."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import EVAL_SAMPLES, assert_one_line_error
from rrg.cli import cli

SPLIT = "validation-public"
_path = Path(__file__).resolve().parents[1] / "results" / "report_html.py"
_spec = importlib.util.spec_from_file_location("engine_report_html", _path)
report_html = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = report_html  # its dataclasses look their module up
_spec.loader.exec_module(report_html)


@pytest.fixture(scope="module")
def demo_report(demo_chain, tmp_path_factory):
    """(registry, {stage: run id}, the page's HTML) of a report of the session's demo chain."""
    registry = demo_chain.registry
    ids = {"zero_shot": demo_chain.zero_shot.id, "sft": demo_chain.sft.id, "grpo": demo_chain.grpo.id}
    output = tmp_path_factory.mktemp("demo-report") / "report.html"
    result = CliRunner().invoke(cli, ["report", "--registry", registry.url, "--samples", "1", "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {output}: 3 runs, 5 figures, 3 samples\n"
    return registry, ids, output.read_text(encoding="utf-8")


def test_report_of_the_demo_chain(demo_report) -> None:
    registry, ids, html = demo_report
    root = report_html.assert_self_contained(html)

    rows = report_html.table1(root)
    assert list(rows) == [ids["zero_shot"], ids["sft"], ids["grpo"]]
    for stage, run_id in ids.items():
        metrics = registry.get_run(run_id).metrics
        row = rows[run_id]
        assert row["model"] == "Qwen2.5-VL (tiny)"
        assert row["stage"] == {"zero_shot": "zero-shot", "sft": "SFT", "grpo": "GRPO"}[stage]
        for metric in ("green_flare", "bleu4_flare", "ce"):
            assert row[metric] == report_html.shown(metrics[metric])
            assert row[f"study/{metric}"] == "—" and row[f"delta/{metric}"] == ""  # the study has no tiny twin

    components = registry.latest_components(list(ids.values()))
    assert report_html.table2(root) == {
        (name, run_id): report_html.shown(getattr(values, name))
        for run_id, values in components.items()
        for name in ("entity_matching", "location_accuracy", "negation_handling", "temporal_accuracy",
                     "measurement_accuracy", "clinical_significance", "structure_completeness")
    }

    # every figure is drawn (one radar for the one model), none replaced by a note
    figures = root.find("section", id="figures-section").find_all("figure")
    assert [f.attrs["id"] for f in figures] == [
        "figure-study-green", "figure-components-box", "figure-radar-qwen2-5-vl-tiny", "figure-curves", "figure-breakdown",
    ]
    assert all(f.find_all("img") for f in figures) and "Not drawn" not in html

    # lineage as the engine recorded it: GRPO started from the SFT run's adapter
    grpo = root.find("div", class_="step", data_run=ids["grpo"]).text()
    assert f"from run {ids['sft']} (SFT, " in grpo
    assert registry.get_run(ids["grpo"]).run.adapter in grpo
    assert "from base model" in root.find("div", class_="step", data_run=ids["sft"]).text()

    # the gallery: the demo set's images embedded, each run's output as recorded
    samples = root.find_all("div", class_="sample")
    assert len(samples) == 3
    predictions = {run_id: {p.sample_id: p for p in registry.predictions(run_id, SPLIT)} for run_id in ids.values()}
    assert all(len(p) == EVAL_SAMPLES for p in predictions.values())
    for sample in samples:
        images = sample.find_all("img")
        assert images and all(i.attrs["src"].startswith("data:image/jpeg;base64,") for i in images)
        for tr in sample.find("table").find_all("tr"):
            if "data-run" in tr.attrs:
                expected = predictions[tr.attrs["data-run"]][sample.attrs["data-sample"]].prediction
                assert tr.find("td", class_="prediction").text() == " ".join(expected.split())

    # each run's recipe and data
    for run_id in ids.values():
        detail = registry.get_run(run_id)
        card = root.find("div", id=f"run-{run_id}").text()
        assert detail.recipe.ref in card and detail.recipe.hash in card
        assert all(d.fingerprint in card for d in detail.datasets)


def test_a_tag_no_demo_run_carries_is_one_line_and_no_file(demo_report, tmp_path: Path) -> None:
    registry, _, _ = demo_report
    output = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "--registry", registry.url, "--tag", "paper", "-o", str(output)])
    assert_one_line_error(result, "carries tag paper")
    assert not output.exists() and list(tmp_path.iterdir()) == []
