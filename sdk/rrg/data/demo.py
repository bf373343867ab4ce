"""The bundled demo data set: real IU X-ray report text, synthetic images, FLARE layout.

Built on first use into ``<cache>/demo/<version>/organized_dataset`` (``<cache>`` is
:func:`rrg.paths.cache_dir`), where ``<version>`` is :data:`DEMO_BUILDER_VERSION` plus a hash of the
bundled report file and of the generating modules' source, so a change to any of them builds a
fresh copy beside the old one.
Building is deterministic: the same inputs give the same bytes.

* Reports are assigned to splits by a hash of their uid (:func:`demo_split`).
* Each report yields its region questions (:mod:`rrg.data.regions`); :data:`QUESTIONS_PER_REPORT`
  of them are kept per report, picked by a hash of uid and region, which is about the
  benchmark's own ratio (9,742 questions over about 2,950 IU_XRay studies).
* Each report gets ``<uid>_frontal.png`` and ``<uid>_lateral.png`` drawn from the findings its
  text states (:mod:`rrg.data.findings`, :mod:`rrg.data.radiograph`); every question of the
  report shows both.
* ``demo_metadata.jsonl`` beside each question file records, per report uid, the images, the
  regions asked and the derived findings with the sentences that set them.
* Testing questions carry no ``Answer``, as in the benchmark.
* A second data set, ``Xray/IU_XRay_findings`` (:mod:`rrg.data.labels`), asks classification and
  multi-label questions about the findings of one report in :data:`LABELS_EVERY` (picked by a hash
  of the uid), on a copy of the report's frontal image (``ImageName`` one string), so that
  several data sets can be trained on at once. It leaves the IU_XRay files as they were.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from rrg import paths
from rrg.data import labels
from rrg.data.findings import derive_findings
from rrg.data.layout import split_layout
from rrg.data.regions import region_questions

logger = logging.getLogger(__name__)

DEMO_BUILDER_VERSION = "1"
DATASET = "IU_XRay"
CATEGORY = "Xray"
MODALITY = "Xray"
TASK_TYPE = "Report_Generation"
QUESTIONS_PER_REPORT = 3
# Split of a report: the first 8 hex digits of sha256("rrg-demo-split:" + uid), modulo 100.
SPLIT_BUCKETS = (
    ("training", 68),
    ("validation-public", 80),
    ("validation-hidden", 84),
    ("testing", 100),
)
SPLIT_LABELS = {
    "training": "train",
    "validation-public": "val",
    "validation-hidden": "val",
    "testing": "test",
}
LABELS_EVERY = 3
"""One report in this many (by ``sha256("rrg-demo-labels:" + uid)``) also gets the questions of
the second data set, :data:`rrg.data.labels.DATASET`."""
MANIFEST = "demo_manifest.json"
METADATA_FILE = "demo_metadata.jsonl"


def _hash_int(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def demo_split(uid: str) -> str:
    """The split a report goes to."""
    bucket = _hash_int(f"rrg-demo-split:{uid}") % 100
    return next(name for name, upper in SPLIT_BUCKETS if bucket < upper)


def image_seed(uid: str, view: str) -> int:
    """The noise seed of one picture."""
    return _hash_int(f"rrg-demo-image:{uid}:{view}")


def question_file_name(split: str, dataset: str = DATASET) -> str:
    """``IU_XRay_questions_train.json`` etc.; hidden validation uses the ``_withGT`` name."""
    suffix = split_layout(split).question_suffixes
    return dataset + (suffix[0] if split == "validation-hidden" else suffix[-1])


def has_label_questions(uid: str) -> bool:
    """Whether a report also gets the questions of the second data set."""
    return _hash_int(f"rrg-demo-labels:{uid}") % LABELS_EVERY == 0


# Modules whose code decides the bytes of the demo set; their source is part of the version hash.
_GENERATOR_MODULES = (
    "demo.py",
    "findings.py",
    "radiograph.py",
    "regions.py",
    "sentences.py",
    "layout.py",
    "labels.py",
)


def demo_version() -> str:
    """The folder name of this builder's output.

    ``v<DEMO_BUILDER_VERSION>-<hash>``, the hash covering the bundled report bytes and the
    source of the modules that generate the set, so any change to them builds a fresh copy.
    """
    digest = hashlib.sha256(f"rrg-demo:{DEMO_BUILDER_VERSION}\0".encode())
    digest.update(paths.BUNDLED_REPORTS.read_bytes())
    for name in _GENERATOR_MODULES:
        digest.update(b"\0" + (Path(__file__).parent / name).read_bytes())
    return f"v{DEMO_BUILDER_VERSION}-{digest.hexdigest()[:12]}"


def demo_base(cache_dir: str | Path | None = None) -> Path:
    """``<cache>/demo/<version>``: the folder holding ``organized_dataset`` and the manifest."""
    return Path(cache_dir if cache_dir is not None else paths.cache_dir()) / "demo" / demo_version()


@dataclass(frozen=True)
class DemoSummary:
    """What a built demo set holds: ``reports`` and ``questions`` per split of IU_XRay, and
    ``datasets``: per data set, its ``reports`` and ``questions`` per split."""

    root: Path
    reports: dict[str, int]
    questions: dict[str, int]
    datasets: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)


def demo_summary(root: Path) -> DemoSummary:
    """Counts per split, read from the manifest next to ``root``."""
    manifest = json.loads((root.parent / MANIFEST).read_text())
    return DemoSummary(root, manifest["reports"], manifest["questions"], manifest.get("datasets", {}))


def _is_complete(base: Path) -> bool:
    if not (base / MANIFEST).is_file():
        return False
    manifest = json.loads((base / MANIFEST).read_text())
    root = base / "organized_dataset"
    return all((root / name).is_file() for name in manifest["files"])


def build_demo(cache_dir: str | Path | None = None, force: bool = False) -> Path:
    """Build the demo set if it is missing (or always, with ``force``); return its root.

    The build goes to a temporary folder renamed into place at the end, so an interrupted or
    concurrent build never leaves a half-written set behind.
    """
    base = demo_base(cache_dir)
    root = base / "organized_dataset"
    if not force and _is_complete(base):
        return root
    base.parent.mkdir(parents=True, exist_ok=True)
    staging = base.parent / f".{base.name}.building-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    write_demo(staging / "organized_dataset")
    if force and base.exists() or base.exists() and not _is_complete(base):
        shutil.rmtree(base)
    try:
        staging.rename(base)
    except OSError:
        # Another process finished the same build first; its output is identical.
        shutil.rmtree(staging)
    return root


def _read_reports() -> list[dict]:
    with paths.BUNDLED_REPORTS.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_demo(root: Path) -> DemoSummary:
    """Write the whole demo set under ``root`` (an ``organized_dataset`` folder) and its manifest."""
    import numpy as np
    from PIL import Image

    from rrg.data.radiograph import render_frontal, render_lateral

    started = time.perf_counter()
    per_split: dict[str, dict[str, list]] = {
        name: {"items": [], "metadata": []} for name, _ in SPLIT_BUCKETS
    }
    label_items: dict[str, list[dict]] = {name: [] for name, _ in SPLIT_BUCKETS}
    files: list[str] = []
    for report in _read_reports():
        uid = report["uid"]
        split = demo_split(uid)
        layout = split_layout(split)
        dataset_dir = root / split / CATEGORY / DATASET
        images_dir = dataset_dir / layout.images_folder
        images_dir.mkdir(parents=True, exist_ok=True)
        findings = derive_findings(report["findings"], report["impression"])
        image_names = []
        png: dict[str, bytes] = {}
        for view, render in (("frontal", render_frontal), ("lateral", render_lateral)):
            pixels = render(findings, np.random.default_rng(image_seed(uid, view)))
            file_name = f"{uid}_{view}.png"
            encoded = io.BytesIO()
            Image.fromarray(pixels, mode="L").save(encoded, format="PNG", compress_level=6)
            png[view] = encoded.getvalue()
            (images_dir / file_name).write_bytes(png[view])
            image_names.append(f"{layout.images_folder}/{file_name}")
            files.append(f"{split}/{CATEGORY}/{DATASET}/{layout.images_folder}/{file_name}")
        if has_label_questions(uid):
            label_images = root / split / CATEGORY / labels.DATASET / layout.images_folder
            label_images.mkdir(parents=True, exist_ok=True)
            (label_images / f"{uid}_frontal.png").write_bytes(png["frontal"])
            files.append(f"{split}/{CATEGORY}/{labels.DATASET}/{layout.images_folder}/{uid}_frontal.png")
            for asked in labels.label_questions(findings):
                label_item = {
                    "TaskType": asked.task_type,
                    "Modality": MODALITY,
                    "ImageName": f"{layout.images_folder}/{uid}_frontal.png",
                    "Question": asked.question,
                    "Answer": asked.answer,
                    "Split": SPLIT_LABELS[split],
                }
                if split == "testing":
                    del label_item["Answer"]
                label_items[split].append(label_item)

        candidates = region_questions(report["findings"], report["impression"])
        kept = sorted(candidates, key=lambda q: _hash_int(f"rrg-demo-question:{uid}:{q.region}"))[
            :QUESTIONS_PER_REPORT
        ]
        kept = [q for q in candidates if q in kept]  # back to the canonical region order
        for question in kept:
            item = {
                "TaskType": TASK_TYPE,
                "Modality": MODALITY,
                "ImageName": list(image_names),
                "Question": question.question,
                "Answer": question.answer,
                "Split": SPLIT_LABELS[split],
            }
            if split == "testing":
                del item["Answer"]
            per_split[split]["items"].append(item)
        per_split[split]["metadata"].append(
            {
                "uid": uid,
                "split": split,
                "images": image_names,
                "regions": [q.region for q in kept],
                "findings": findings.model_dump(mode="json"),
            }
        )

    reports, questions = {}, {}
    for split, content in per_split.items():
        dataset_dir = root / split / CATEGORY / DATASET
        dataset_dir.mkdir(parents=True, exist_ok=True)
        name = question_file_name(split)
        (dataset_dir / name).write_text(
            json.dumps(content["items"], indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        (dataset_dir / METADATA_FILE).write_text(
            "".join(
                json.dumps(m, ensure_ascii=False, sort_keys=True) + "\n"
                for m in content["metadata"]
            ),
            encoding="utf-8",
        )
        files += [
            f"{split}/{CATEGORY}/{DATASET}/{name}",
            f"{split}/{CATEGORY}/{DATASET}/{METADATA_FILE}",
        ]
        reports[split] = len(content["metadata"])
        questions[split] = len(content["items"])
    label_reports, label_questions = {}, {}
    for split, items in label_items.items():
        name = question_file_name(split, labels.DATASET)
        dataset_dir = root / split / CATEGORY / labels.DATASET
        dataset_dir.mkdir(parents=True, exist_ok=True)
        (dataset_dir / name).write_text(json.dumps(items, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        files.append(f"{split}/{CATEGORY}/{labels.DATASET}/{name}")
        label_reports[split] = len({item["ImageName"] for item in items})
        label_questions[split] = len(items)
    datasets = {
        DATASET: {"reports": reports, "questions": questions},
        labels.DATASET: {"reports": label_reports, "questions": label_questions},
    }
    (root / "README.md").write_text(_README, encoding="utf-8")
    manifest = {
        "builder_version": DEMO_BUILDER_VERSION,
        "reports_sha256": hashlib.sha256(paths.BUNDLED_REPORTS.read_bytes()).hexdigest(),
        "reports": reports,
        "questions": questions,
        "datasets": datasets,
        "files": sorted(files),
    }
    (root.parent / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    summary = DemoSummary(root, reports, questions, datasets)
    logger.info("built the demo set in %.1f s at %s", time.perf_counter() - started, root)
    return summary


_README = """\
# rrg demo data set (FLARE 2025 Task 5 layout)

Built by `rrg data demo` (rrg.data.demo). Question answers are verbatim sentences of radiology
reports of the Indiana University Chest X-ray Collection, distributed by the Open-i service of
the U.S. National Library of Medicine (Demner-Fushman et al., JAMIA 2016), licensed CC BY-NC-ND
4.0: credit Indiana University / Open-i, no commercial use, text redistributed verbatim.

The images are synthetic drawings made from the findings each report states; they are not
radiographs of the patients. `demo_metadata.jsonl` beside each question file lists, per report,
the findings drawn and the sentences they come from.

`Xray/IU_XRay_findings` is a second data set for training on several at once: for one report in
three, a Classification question (heart size) and a Multi-label Classification question (the
findings present) on the report's frontal image, answered from the same report text. See rrg's
docs/data.md.
"""
