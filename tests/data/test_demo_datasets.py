"""The demo set's second data set, IU_XRay_findings, and the IU_XRay files it leaves as they were."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from rrg.data import labels
from rrg.data.demo import DATASET, demo_summary, has_label_questions
from rrg.data.findings import ReportFindings
from rrg.data.flare import load_flare
from rrg.data.tasks import task_kind

IU_XRAY_FILES = (2408, "c25a15a9e48cf8f49874a293bd136ebb997fe74b0e8a9cddc65c0a8c122577c0")
"""Count and digest of every IU_XRay demo file (path and sha256), as built before the second data
set existed: run fingerprints recorded on the demo data depend on these bytes."""
SPLITS = ("training", "validation-public", "validation-hidden", "testing")


def test_the_iu_xray_files_are_byte_identical_to_the_earlier_builds(demo_root: Path) -> None:
    digest = hashlib.sha256()
    count = 0
    for path in sorted(demo_root.rglob("*")):
        if path.is_file() and f"/{DATASET}/" in path.as_posix():
            digest.update(f"{path.relative_to(demo_root).as_posix()}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
            count += 1
    assert (count, digest.hexdigest()) == IU_XRAY_FILES


def test_the_second_data_set_follows_the_flare_layout(demo_root: Path) -> None:
    summary = demo_summary(demo_root)
    assert summary.datasets[DATASET] == {"reports": summary.reports, "questions": summary.questions}
    counts = summary.datasets[labels.DATASET]
    assert counts["reports"] == {"training": 288, "validation-public": 38, "validation-hidden": 17, "testing": 52}
    assert counts["questions"] == {split: 2 * n for split, n in counts["reports"].items()}
    for split in SPLITS:
        loaded = load_flare(demo_root, labels.DATASET, split)
        assert loaded.size == counts["questions"][split]
        assert loaded.task_types == {labels.CLASSIFICATION: counts["reports"][split], labels.MULTI_LABEL: counts["reports"][split]}
        assert {task_kind(t) for t in loaded.task_types} == {"classification", "multi_label_classification"}
        assert all(len(paths) == 1 and paths[0].endswith("_frontal.png") for paths in loaded.dataset["image_paths"])
        assert (split == "testing") == all(answer is None for answer in loaded.dataset["answer"])
    # the folder names of the benchmark: <dataset>_questions_val_withGT.json for the hidden split
    assert (demo_root / "validation-hidden" / "Xray" / labels.DATASET / f"{labels.DATASET}_questions_val_withGT.json").is_file()


def test_its_answers_come_from_the_findings_of_the_same_report(demo_root: Path) -> None:
    folder = demo_root / "training" / "Xray"
    metadata = {m["uid"]: m for m in map(json.loads, (folder / DATASET / "demo_metadata.jsonl").read_text().splitlines())}
    items = json.loads((folder / labels.DATASET / f"{labels.DATASET}_questions_train.json").read_text())
    asked = set()
    for entry in items:
        uid = entry["ImageName"].split("/")[1].rsplit("_", 1)[0]
        asked.add(uid)
        findings = ReportFindings.model_validate(metadata[uid]["findings"])
        # the image is the IU_XRay frontal image of that report, byte for byte
        assert (folder / labels.DATASET / entry["ImageName"]).read_bytes() == (folder / DATASET / f"imagesTr/{uid}_frontal.png").read_bytes()
        if entry["TaskType"] == labels.CLASSIFICATION:
            assert (entry["Question"], entry["Answer"]) == (labels.HEART_QUESTION, labels.HEART_CHOICES[findings.heart])
        else:
            assert entry["Question"] == labels.FINDINGS_QUESTION
            assert entry["Answer"] == labels.finding_labels(findings)
            assert entry["Answer"] == [label for label in labels.FINDING_LABELS if label in entry["Answer"]] or entry["Answer"] == [labels.NO_FINDING]
    assert asked == {uid for uid in metadata if has_label_questions(uid)}
    heart, findings_text = load_flare(demo_root, labels.DATASET, limit=2).dataset["answer"]
    assert heart in {"A", "B", "C"} and findings_text == ", ".join(items[1]["Answer"])  # labels joined, not a list


def test_finding_labels_name_each_finding_or_none() -> None:
    assert labels.finding_labels(ReportFindings()) == [labels.NO_FINDING]
    findings = ReportFindings(heart="enlarged", sternotomy=True, pneumothorax=["left"])
    assert labels.finding_labels(findings) == ["Cardiomegaly", "Pneumothorax", "Sternotomy"]
    assert labels.finding_labels(ReportFindings(heart="borderline")) == [labels.NO_FINDING]
    assert [q.task_type for q in labels.label_questions(findings)] == [labels.CLASSIFICATION, labels.MULTI_LABEL]
    assert labels.label_questions(findings)[0].answer == "C"
