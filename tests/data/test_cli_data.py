"""``rrg data demo`` and ``rrg data inspect`` through the real entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from flare_trees import item, make_split
from rrg.cli import cli


def test_data_demo_prints_root_and_counts(demo_cache: Path, demo_root: Path):
    result = CliRunner().invoke(cli, ["data", "demo", "--out", str(demo_cache)])
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"{demo_root}\n"
        "training: 836 reports, 2507 questions\n"
        "validation-public: 138 reports, 414 questions\n"
        "validation-hidden: 54 reports, 162 questions\n"
        "testing: 172 reports, 516 questions\n"
    )


def test_data_inspect_demo_split(
    demo_cache: Path, demo_root: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("rrg.paths.cache_dir", lambda: demo_cache)
    result = CliRunner().invoke(
        cli, ["data", "inspect", "demo", "--split", "validation-hidden", "--show", "1"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    dataset_dir = demo_root / "validation-hidden" / "Xray" / "IU_XRay"
    assert lines[0] == f"questions file: {dataset_dir / 'IU_XRay_questions_val_withGT.json'}"
    assert lines[1] == f"images folder:  {dataset_dir / 'imagesVal'}"
    assert lines[2] == "samples: 162 (162 with answers), images: 108, skipped: 0"
    assert lines[3] == "task types: Report_Generation 162"
    assert lines[4].startswith("fingerprint: ") and len(lines[4]) == len("fingerprint: ") + 64
    assert (
        lines[6]
        == "[IU_XRay/validation-hidden/0] Write the part of the radiology report that describes the heart."
    )
    assert lines[7] == "  answer: The cardiac contours are normal."
    assert lines[8] == "  images: CXR7_frontal.png, CXR7_lateral.png"
    assert len(lines) == 9


def test_data_inspect_lists_image_problems_and_exits_1(tmp_path: Path):
    dataset_dir = make_split(
        tmp_path,
        [item("imagesTr/a.png"), item(["imagesTr/a.png", "imagesTr/gone.png"]), item("bad.png")],
        images=("a.png",),
    )
    (dataset_dir / "imagesTr" / "bad.png").write_bytes(b"not an image")
    result = CliRunner().invoke(cli, ["data", "inspect", str(tmp_path), "--show", "0"])
    assert result.exit_code == 1, result.output
    assert "samples: 1 (1 with answers), images: 1, skipped: 2\n" in result.output
    assert result.output.endswith(
        "image problems (2 samples skipped):\n"
        "  IU_XRay/training/1: image imagesTr/gone.png is missing\n"
        "  IU_XRay/training/2: image bad.png is not a readable image (cannot identify image file)\n"
    )


def test_data_inspect_layout_error_is_one_line_and_exit_2(tmp_path: Path):
    make_split(tmp_path, [item("a.png")], dataset="chestdr", images=("a.png",))
    result = CliRunner().invoke(cli, ["data", "inspect", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output == (
        f"Error: data.root: {tmp_path} has no Xray/IU_XRay data set in any split (hint: found: training/Xray/chestdr)\n"
    )
