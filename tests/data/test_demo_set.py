"""The bundled demo set: layout, counts, verbatim answers, metadata, determinism, caching."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image
from rrg.data.demo import (
    DATASET,
    QUESTIONS_PER_REPORT,
    build_demo,
    demo_base,
    demo_split,
    demo_summary,
)
from rrg.data.flare import load_flare
from rrg.data.layout import resolve_data_root
from rrg.data.regions import FINDINGS_QUESTION, IMPRESSION_QUESTION, REGION_QUESTIONS
from rrg.data.sentences import split_sentences
from rrg.paths import BUNDLED_REPORTS

REPORTS = {
    r["uid"]: r for r in map(json.loads, BUNDLED_REPORTS.read_text(encoding="utf-8").splitlines())
}
SPLITS = ("training", "validation-public", "validation-hidden", "testing")


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_counts_per_split(demo_root: Path):
    summary = demo_summary(demo_root)
    assert summary.reports == {
        "training": 836,
        "validation-public": 138,
        "validation-hidden": 54,
        "testing": 172,
    }
    assert summary.questions == {
        "training": 2507,
        "validation-public": 414,
        "validation-hidden": 162,
        "testing": 516,
    }
    assert sum(summary.reports.values()) == len(REPORTS) == 1200
    for split in SPLITS:
        loaded = load_flare(demo_root, split=split)
        assert loaded.size == summary.questions[split]
        assert (
            len({p for paths in loaded.dataset["image_paths"] for p in paths})
            == 2 * summary.reports[split]
        )


def test_layout_and_file_names_follow_flare(demo_root: Path):
    expected = {
        "training": ("imagesTr", "IU_XRay_questions_train.json", "train"),
        "validation-public": ("imagesVal", "IU_XRay_questions_val.json", "val"),
        "validation-hidden": ("imagesVal", "IU_XRay_questions_val_withGT.json", "val"),
        "testing": ("imagesTs", "IU_XRay_questions_test.json", "test"),
    }
    for split, (images, questions, label) in expected.items():
        dataset_dir = demo_root / split / "Xray" / DATASET
        items = json.loads((dataset_dir / questions).read_text())
        first = items[0]
        assert set(first) == {"TaskType", "Modality", "ImageName", "Question", "Split"} | (
            {"Answer"} if split != "testing" else set()
        )
        assert (first["TaskType"], first["Modality"], first["Split"]) == (
            "Report_Generation",
            "Xray",
            label,
        )
        uid = first["ImageName"][0].split("/")[1].rsplit("_", 1)[0]
        assert first["ImageName"] == [f"{images}/{uid}_frontal.png", f"{images}/{uid}_lateral.png"]
        assert demo_split(uid) == split
        with Image.open(dataset_dir / first["ImageName"][0]) as image:
            assert (image.mode, image.size) == ("L", (160, 160))


def test_every_answer_is_the_reports_own_text(demo_root: Path):
    questions = set(REGION_QUESTIONS.values()) | {FINDINGS_QUESTION, IMPRESSION_QUESTION}
    for split in ("training", "validation-public", "validation-hidden"):
        dataset_dir = demo_root / split / "Xray" / DATASET
        name = "IU_XRay_questions_val_withGT.json" if split == "validation-hidden" else None
        files = [name] if name else [p.name for p in dataset_dir.glob("IU_XRay_questions_*.json")]
        items = json.loads((dataset_dir / files[0]).read_text())
        per_report: dict[str, int] = {}
        for entry in items:
            uid = entry["ImageName"][0].split("/")[1].rsplit("_", 1)[0]
            report = REPORTS[uid]
            per_report[uid] = per_report.get(uid, 0) + 1
            assert entry["Question"] in questions
            if entry["Question"] == FINDINGS_QUESTION:
                assert entry["Answer"] == report["findings"].strip()
            elif entry["Question"] == IMPRESSION_QUESTION:
                assert entry["Answer"] == report["impression"].strip()
            else:
                findings_sentences = split_sentences(report["findings"])
                answer_sentences = split_sentences(entry["Answer"])
                assert answer_sentences and all(
                    s in findings_sentences for s in answer_sentences
                ), (uid, entry["Answer"])
        assert max(per_report.values()) == QUESTIONS_PER_REPORT


def test_metadata_lists_every_report_with_its_findings(demo_root: Path):
    dataset_dir = demo_root / "training" / "Xray" / DATASET
    metadata = [
        json.loads(line) for line in (dataset_dir / "demo_metadata.jsonl").read_text().splitlines()
    ]
    assert len(metadata) == demo_summary(demo_root).reports["training"]
    by_uid = {m["uid"]: m for m in metadata}
    cxr2 = by_uid["CXR2"]
    assert cxr2["images"] == ["imagesTr/CXR2_frontal.png", "imagesTr/CXR2_lateral.png"]
    assert cxr2["findings"]["heart"] == "borderline" and cxr2["findings"]["sternotomy"] is True
    assert cxr2["findings"]["evidence"]["sternotomy"] == ["Midline sternotomy XXXX."]
    assert 1 <= len(cxr2["regions"]) <= QUESTIONS_PER_REPORT
    for meta in metadata:
        for image in meta["images"]:
            assert (dataset_dir / image).is_file()


def test_build_is_deterministic_and_cached(demo_root: Path, demo_cache: Path, tmp_path: Path):
    again = build_demo(cache_dir=tmp_path)
    assert again != demo_root
    assert _tree_hashes(again) == _tree_hashes(demo_root)
    for split in SPLITS:
        assert (
            load_flare(again, split=split).fingerprint
            == load_flare(demo_root, split=split).fingerprint
        )

    marker = again / "training" / "Xray" / DATASET / "IU_XRay_questions_train.json"
    stamp = marker.stat().st_mtime_ns
    assert (
        build_demo(cache_dir=tmp_path) == again and marker.stat().st_mtime_ns == stamp
    )  # found, not rebuilt


def test_an_incomplete_build_is_rebuilt(
    demo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import shutil

    from rrg.data import demo

    shutil.copytree(demo_root.parent, demo_base(tmp_path))
    copied = demo_base(tmp_path) / "organized_dataset"
    assert build_demo(cache_dir=tmp_path) == copied
    (copied / "testing" / "Xray" / DATASET / "imagesTs" / "CXR5_frontal.png").unlink()
    calls = []

    def fake_write(root: Path):  # stands in for the 10-second full build
        calls.append(root)
        shutil.copytree(demo_root, root)
        shutil.copy(demo_root.parent / demo.MANIFEST, root.parent / demo.MANIFEST)

    monkeypatch.setattr(demo, "write_demo", fake_write)
    assert build_demo(cache_dir=tmp_path) == copied
    assert (
        len(calls) == 1
        and calls[0].parent.name.startswith(".")
        and "building" in calls[0].parent.name
    )
    assert (copied / "testing" / "Xray" / DATASET / "imagesTs" / "CXR5_frontal.png").is_file()
    assert not list(demo_base(tmp_path).parent.glob(".*building*"))
    build_demo(cache_dir=tmp_path, force=True)
    assert len(calls) == 2


def test_demo_root_resolves_through_the_cache(
    demo_cache: Path, demo_root: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("rrg.paths.cache_dir", lambda: demo_cache)
    assert resolve_data_root("demo") == demo_root
