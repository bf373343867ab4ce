"""``rrg report`` on the study fixture registry: one self-contained page whose tables are the
registry's numbers, with the figures, the sample gallery, the lineage and every run's recipe and
data; registry text escaped; one-line errors and no file (or the old one untouched) on failure."""

from __future__ import annotations

import base64
import io
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from .report_html import assert_self_contained, data_images, parse, shown, table1, table2

COMPONENTS = (
    "entity_matching",
    "location_accuracy",
    "negation_handling",
    "temporal_accuracy",
    "measurement_accuracy",
    "clinical_significance",
    "structure_completeness",
)
SPLIT = "validation-public"


def rrg(*args: str):
    from rrg.cli import cli

    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def study_report(study_registry_template, tmp_path_factory) -> tuple[str, dict[str, str], str]:
    """One report of a copy of the study registry, shared by the tests that only read it:
    (registry URL, {row key: run id}, the page's HTML)."""
    template, run_ids = study_registry_template
    folder = tmp_path_factory.mktemp("study-report")
    shutil.copyfile(template, folder / "study.db")
    url = f"sqlite:///{folder / 'study.db'}"
    result = rrg("report", "--registry", url, "-o", str(folder / "report.html"))
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {folder / 'report.html'}: 9 runs, 8 figures, 6 samples\n"
    return url, run_ids, (folder / "report.html").read_text(encoding="utf-8")


def _registry(url: str):
    from rrg_registry import Registry

    return Registry.from_url(url, create=False)


def test_the_page_is_self_contained_and_every_image_decodes(study_report) -> None:
    from PIL import Image

    _, _, html = study_report
    root = assert_self_contained(html)
    sources = data_images(root)
    figures = [s for s in sources if s.startswith("data:image/png;base64,")]
    thumbnails = [s for s in sources if s.startswith("data:image/jpeg;base64,")]
    assert len(figures) == 8  # GREEN before/after, components box, four radars, curves, regions
    assert len(thumbnails) == 12  # six samples, a frontal and a lateral view each
    assert len(figures) + len(thumbnails) == len(sources)
    for source in sources:
        image = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1], validate=True)))
        image.load()
        assert image.width > 0 and image.height > 0
    for thumbnail in thumbnails:
        assert max(Image.open(io.BytesIO(base64.b64decode(thumbnail.split(",", 1)[1]))).size) <= 160
    assert "Not drawn" not in html


def test_table1_holds_the_registry_numbers_beside_the_study(study_report) -> None:
    from rrg.results.names import STUDY_ORDER, model_name, stage_name
    from rrg.results.reference import STUDY_TABLE1

    url, run_ids, html = study_report
    rows = table1(parse(html))
    assert set(rows) == set(run_ids.values())
    with _registry(url) as registry:
        for run_id in run_ids.values():
            run = registry.get_run(run_id)
            row = rows[run_id]
            model = model_name(run.run.model_family, run.run.model_id)
            assert (row["stage"], row["model"]) == (stage_name(run.run.stage), model)
            published = STUDY_TABLE1[(run.run.stage, model)]
            for metric in ("green_flare", "bleu4_flare", "ce"):
                assert row[metric] == shown(run.metrics[metric])
                assert row[f"study/{metric}"] == shown(published[metric])
                assert row[f"delta/{metric}"] == f"{run.metrics[metric] - published[metric]:+.3f}"
    assert {row["model"] for row in rows.values()} == set(STUDY_ORDER)
    assert [row["stage"] for row in rows.values()] == ["zero-shot"] * 4 + ["SFT"] * 4 + ["GRPO"]


def test_table2_holds_each_runs_components(study_report) -> None:
    from rrg.results.names import model_name
    from rrg.results.reference import STUDY_COMPONENTS

    url, run_ids, html = study_report
    root = parse(html)
    with _registry(url) as registry:
        components = registry.latest_components(list(run_ids.values()))
        runs = {run_id: registry.get_run(run_id).run for run_id in run_ids.values()}
    assert len(components) == 9
    assert table2(root) == {(name, run_id): shown(getattr(values, name)) for run_id, values in components.items() for name in COMPONENTS}
    # the study's value under each of its five columns, nothing under the others
    rows = {tr.attrs["data-run"]: tr for tr in root.find("table", id="table2-components").find_all("tr") if "data-run" in tr.attrs}
    for run_id, run in runs.items():
        published = STUDY_COMPONENTS.get((run.stage, model_name(run.model_family, run.model_id)))
        studies = [span.text() for span in rows[run_id].find_all("span", class_="study")]
        assert studies == ([f"study {published[name]:.3f}" for name in COMPONENTS] if published else [])


def test_gallery_lineage_and_runs_come_from_the_registry(study_report) -> None:
    url, run_ids, html = study_report
    root = parse(html)
    samples = root.find_all("div", class_="sample")
    assert len(samples) == 6
    with _registry(url) as registry:
        predictions = {run_id: {p.sample_id: p for p in registry.predictions(run_id, SPLIT)} for run_id in run_ids.values()}
        details = {run_id: registry.get_run(run_id) for run_id in run_ids.values()}
    for sample in samples:
        sample_id = sample.attrs["data-sample"]
        outputs = {tr.attrs["data-run"]: tr.find_all("td") for tr in sample.find("table").find_all("tr") if "data-run" in tr.attrs}
        assert set(outputs) == set(run_ids.values())
        for run_id, cells in outputs.items():
            expected = predictions[run_id][sample_id]
            assert cells[2].text() == shown(expected.green_flare)
            assert cells[3].text() == " ".join(expected.prediction.split())
        first = predictions[run_ids["deepseek_ocr/zero_shot"]][sample_id]
        assert sample.find("div", class_="question").text() == first.question
        assert [img.attrs["alt"] for img in sample.find_all("img")] == [Path(p).name for p in first.image_paths]
        assert f"study {first.study_id}" in sample.text()

    # lineage: the GRPO run started from the SFT run's adapter; the others from their base model
    grpo, sft = run_ids["qwen3_vl/grpo"], run_ids["qwen3_vl/sft"]
    step = root.find("div", class_="step", data_run=grpo).text()
    assert f"from run {sft} (SFT, {details[sft].recipe.ref})" in step and f"adapter run:{sft}" in step
    assert "from base model Qwen/Qwen3-VL-4B-Instruct" in root.find("div", class_="step", data_run=sft).text()

    # each run: recipe name@version, hash, YAML, dataset fingerprints
    for run_id, detail in details.items():
        card = root.find("div", id=f"run-{run_id}")
        text = card.text()
        assert detail.recipe.ref in text and detail.recipe.hash in text
        assert card.find("pre").text() == " ".join(detail.recipe.yaml_text.split())
        assert detail.datasets and all(d.fingerprint in text for d in detail.datasets)


def _rewrite_predictions(registry, run_id: str, change) -> None:
    rows = []
    for p in registry.predictions(run_id, SPLIT):
        row = {
            "sample_id": p.sample_id, "question": p.question, "prediction": p.prediction, "reference": p.reference,
            "scores": dict(p.scores), "image_paths": list(p.image_paths or ()), "study_id": p.study_id,
        }
        rows.append(change(row))
    registry.log_predictions(run_id, SPLIT, rows)


def test_registry_text_is_escaped_and_unreadable_images_get_a_note(study_registry, tmp_path: Path) -> None:
    from rrg_registry import Registry

    hostile = "<script>alert('rrg')</script>"
    not_an_image = tmp_path / "CXR9_broken.png"
    not_an_image.write_text("not a PNG")
    missing = tmp_path / "gone" / "CXR9_frontal.png"
    with Registry.from_url(study_registry.url) as registry:
        # a run whose model, recipe, tag and predictions carry markup, in a row of its own
        source = registry.get_run(study_registry.run_ids["qwen3_vl/zero_shot"])
        version = registry.record_recipe("hostile-zero-shot", 1, "f" * 64, f"name: hostile-zero-shot\n# {hostile}\n")
        run = registry.create_run(
            version.id, "zero_shot", "qwen3_vl", "acme/<img src=x onerror=alert(1)>", tags=["<b>tag</b>"],
            datasets=list(source.datasets),
        )
        registry.start_run(run.id)
        originals = registry.predictions(source.run.id, SPLIT)
        registry.record_evaluation(
            run.id, SPLIT, dict(source.metrics) | {"green_flare": 0.5},
            predictions=[
                {"sample_id": p.sample_id, "question": p.question, "reference": p.reference, "scores": dict(p.scores),
                 "prediction": f"{hostile} {p.prediction}", "image_paths": list(p.image_paths), "study_id": p.study_id}
                for p in originals
            ],
            status="succeeded",
        )
        # every run's images: one missing, one not an image, the lateral view as recorded
        for run_id in [*study_registry.run_ids.values(), run.id]:
            _rewrite_predictions(
                registry, run_id, lambda row: row | {"image_paths": [str(missing), str(not_an_image), row["image_paths"][-1]]}
            )

    output = tmp_path / "report.html"
    result = rrg("report", "--registry", study_registry.url, "-o", str(output))
    assert result.exit_code == 0, result.output
    html = output.read_text(encoding="utf-8")
    root = assert_self_contained(html)  # no <script>, no onerror=, no src= but data: URIs
    assert "<script>" not in html and "<b>tag</b>" not in html
    assert "&lt;script&gt;alert(&#39;rrg&#39;)&lt;/script&gt;" in html
    assert table1(root)[run.id]["model"] == "<img src=x onerror=alert(1)>"  # shown as text
    assert "<b>tag</b>" in root.find("div", id=f"run-{run.id}").text()
    assert hostile in root.find("div", id=f"run-{run.id}").find("pre").text()
    for sample in root.find_all("div", class_="sample"):
        outputs = {tr.attrs["data-run"]: tr for tr in sample.find("table").find_all("tr") if "data-run" in tr.attrs}
        assert outputs[run.id].find("td", class_="prediction").text().startswith(hostile)
        thumbs = sample.find_all("div", class_="thumb")
        assert [t.find("div", class_="missing").text() if t.find_all("div", class_="missing") else "image" for t in thumbs] == [
            "image file not found", "image could not be read (UnidentifiedImageError)", "image"
        ]
        assert thumbs[-1].find("img").attrs["src"].startswith("data:image/jpeg;base64,")


def test_samples_zero_leaves_the_gallery_out(study_registry, tmp_path: Path) -> None:
    output = tmp_path / "report.html"
    result = rrg("report", "--registry", study_registry.url, "--samples", "0", "--tag", "paper", "-o", str(output))
    assert result.exit_code == 0, result.output
    assert result.output.endswith(": 9 runs, 8 figures, 0 samples\n")
    root = assert_self_contained(output.read_text(encoding="utf-8"))
    assert not root.find_all("div", class_="sample")
    assert "Sample gallery: left out (--samples 0)" in root.find("section", id="samples-section").text()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in {"study.db", "empty.db", "report.html"})


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tag", "nope"], "Error: no succeeded run in registry {url} carries tag nope (hint: see the runs and their tags with `rrg runs list`, or leave --tag out)"),
        (["--tag", "paper", "--tag", "nope"], "Error: no succeeded run in registry {url} carries all of the tags paper, nope (hint: see the runs and their tags with `rrg runs list`, or leave --tag out)"),
    ],
    ids=["unknown tag", "tags no run carries together"],
)
def test_a_tag_matching_no_run_is_one_line_and_leaves_the_old_report(study_registry, tmp_path: Path, args, message) -> None:
    output = tmp_path / "report.html"
    output.write_text("the previous report")
    result = rrg("report", "--registry", study_registry.url, *args, "-o", str(output))
    assert result.exit_code == 2
    assert result.output == message.format(url=study_registry.url) + "\n"
    assert output.read_text() == "the previous report"
    assert _leftovers(tmp_path) == []


def test_an_empty_registry_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    from rrg_registry import Registry

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    Registry.from_url(url).close()
    result = rrg("report", "--registry", url, "-o", str(tmp_path / "report.html"))
    assert result.exit_code == 2
    assert result.output == (
        f"Error: registry {url} holds no succeeded run to report on (hint: record one first, e.g. "
        "`rrg run recipes/demo/zero-shot.yaml`, or point --registry at another registry)\n"
    )
    assert _leftovers(tmp_path) == [] and not (tmp_path / "report.html").exists()


def test_a_missing_registry_or_output_folder_is_one_line(study_registry, tmp_path: Path) -> None:
    result = rrg("report", "--registry", f"sqlite:///{tmp_path / 'nowhere.db'}", "-o", str(tmp_path / "r.html"))
    assert result.exit_code == 2 and result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert not (tmp_path / "nowhere.db").exists() and not (tmp_path / "r.html").exists()

    target = tmp_path / "no-such-folder" / "report.html"
    result = rrg("report", "--registry", study_registry.url, "-o", str(target))
    assert result.exit_code == 2
    assert result.output == (
        f"Error: cannot write the report to {target}: folder {target.parent} does not exist (hint: create it first)\n"
    )
    assert not target.parent.exists()


def test_a_failed_write_leaves_no_partial_file_and_the_old_report(study_registry, tmp_path: Path, monkeypatch) -> None:
    output = tmp_path / "report.html"
    output.write_text("the previous report")

    def full_disk(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("rrg.results.report.os.replace", full_disk)
    result = rrg("report", "--registry", study_registry.url, "--tag", "medgemma-4b", "--samples", "1", "-o", str(output))
    assert result.exit_code == 2
    assert result.output == f"Error: cannot write the report to {output}: No space left on device (hint: check the path and free space)\n"
    assert output.read_text() == "the previous report"
    assert _leftovers(tmp_path) == []


def test_an_error_while_rendering_writes_nothing(study_registry, tmp_path: Path, monkeypatch) -> None:
    from rrg.results import report

    def broken(_):
        raise RuntimeError("template bug")

    monkeypatch.setattr(report, "render_report", broken)
    output = tmp_path / "report.html"
    result = rrg("report", "--registry", study_registry.url, "--tag", "medgemma-4b", "--samples", "1", "-o", str(output))
    assert isinstance(result.exception, RuntimeError)  # a bug propagates; it is not a user error
    assert not output.exists() and _leftovers(tmp_path) == []


def test_write_report_replaces_the_file_whole(study_registry, tmp_path: Path) -> None:
    from rrg.results.report import write_report
    from rrg_registry import Registry

    output = tmp_path / "report.html"
    output.write_text("the previous report")
    with Registry.from_url(study_registry.url, create=False) as registry:
        written = write_report(registry, output, samples=1, tags=["qwen3-vl-4b"])
    html = output.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert [row.stage for row in written.table1] == ["zero_shot", "sft", "grpo"]
    assert set(table1(parse(html))) == {study_registry.run_ids[f"qwen3_vl/{s}"] for s in ("zero_shot", "sft", "grpo")}
    umask = os.umask(0)
    os.umask(umask)
    assert oct(os.stat(output).st_mode & 0o777) == oct(0o666 & ~umask) and _leftovers(tmp_path) == []


def test_one_run_gets_no_disagreement_group_and_its_parent_is_named(study_registry, tmp_path: Path) -> None:
    output = tmp_path / "report.html"
    result = rrg("report", "--registry", study_registry.url, "--tag", "grpo", "--samples", "1", "-o", str(output))
    assert result.exit_code == 0, result.output
    root = parse(output.read_text(encoding="utf-8"))
    grpo, sft = study_registry.run_ids["qwen3_vl/grpo"], study_registry.run_ids["qwen3_vl/sft"]
    assert list(table1(root)) == [grpo]
    gallery = root.find("section", id="samples-section")
    assert [h.text() for h in gallery.find_all("h3")] == [
        "Hardest samples (the lowest green_flare averaged over the runs)",
        "Easiest samples (the highest green_flare averaged over the runs)",
    ]
    assert len(gallery.find_all("div", class_="sample")) == 2
    assert f"from run {sft} (SFT, qwen3-vl-4b-sft@" in root.find("div", class_="step", data_run=grpo).text()
    assert ", not in Table 1)" in root.find("div", class_="step", data_run=grpo).text()


def test_a_run_without_predictions_or_components_has_a_table1_row_only(study_registry, tmp_path: Path) -> None:
    from rrg_registry import Registry

    with Registry.from_url(study_registry.url) as registry:
        source = registry.get_run(study_registry.run_ids["medgemma/zero_shot"])
        run = registry.create_run(source.recipe.id, "zero_shot", "medgemma", "acme/plain-model", datasets=list(source.datasets))
        registry.start_run(run.id)
        registry.record_evaluation(run.id, SPLIT, {"green_flare": 0.25, "bleu4_flare": 0.5, "ce": 0.75}, status="succeeded")
    output = tmp_path / "report.html"
    result = rrg("report", "--registry", study_registry.url, "--samples", "1", "-o", str(output))
    assert result.exit_code == 0, result.output
    html = output.read_text(encoding="utf-8")
    root = assert_self_contained(html)
    row = table1(root)[run.id]
    assert (row["model"], row["green_flare"], row["bleu4_flare"], row["ce"], row["study/green_flare"]) == (
        "plain-model", "0.250", "0.500", "0.750", "—"
    )
    assert run.id not in {key[1] for key in table2(root)} and len({key[1] for key in table2(root)}) == 9
    # the figures and the gallery are drawn from the runs that have what they plot
    assert "Not drawn" not in html and len(data_images(root)) == 8 + 2 * 3
    assert all(run.id not in [tr.attrs.get("data-run") for tr in s.find_all("tr")] for s in root.find_all("div", class_="sample"))


@pytest.mark.parametrize("mode", ["I;16", "I", "F", "L", "RGBA", "P"])
def test_thumbnails_keep_the_contrast_of_any_image_mode(tmp_path: Path, mode: str) -> None:
    import numpy as np
    from PIL import Image
    from rrg.results.report import THUMBNAIL_SIZE, _thumbnail

    ramp = np.tile(np.linspace(0, 1, 400), (300, 1))  # dark on the left, bright on the right
    if mode in ("I;16", "I", "F"):
        scale = {"I;16": 4095, "I": 60000, "F": 1.0}[mode]  # 12-bit detector counts, 16-bit, float
        image = Image.fromarray((ramp * scale).astype({"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]))
        assert image.mode == mode
    else:
        image = Image.fromarray((ramp * 255).astype(np.uint8), mode="L").convert(mode)
    path = tmp_path / ("CXR1_frontal.tiff" if mode in ("I", "F") else "CXR1_frontal.png")  # PNG holds no 32-bit pixels
    image.save(path)
    thumb = _thumbnail(str(path), {})
    assert thumb.note is None and thumb.data_uri.startswith("data:image/jpeg;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(thumb.data_uri.split(",", 1)[1]))).convert("L")
    assert max(decoded.size) == THUMBNAIL_SIZE
    pixels = np.asarray(decoded, dtype=float)
    assert pixels[:, :10].mean() < 30 and pixels[:, -10:].mean() > 225  # the full range, not clipped to white
