"""The synthetic radiographs carry the findings: measured on the pixels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rrg.data.findings import Effusion, LungLesion, ReportFindings
from rrg.data.radiograph import (
    HEART_CENTER,
    IMAGE_SIZE,
    LUNG_CENTER_X,
    ZONE_Y,
    render_frontal,
    render_lateral,
)

N = IMAGE_SIZE


def _frontal(**attributes) -> np.ndarray:
    return render_frontal(ReportFindings(**attributes), np.random.default_rng(7)).astype(float)


def _box(img: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    return img[int(y0 * N) : int(y1 * N), int(x0 * N) : int(x1 * N)]


def heart_width(img: np.ndarray) -> int:
    """Pixels in the bright run through the image centre on the heart's row (mean of 3 rows)."""
    widths = []
    for row in (
        int(HEART_CENTER[1] * N) - 2,
        int(HEART_CENTER[1] * N),
        int(HEART_CENTER[1] * N) + 2,
    ):
        bright = img[row] > 140
        left = right = int(HEART_CENTER[0] * N)
        while left > 0 and bright[left - 1]:
            left -= 1
        while right < N - 1 and bright[right + 1]:
            right += 1
        widths.append(right - left + 1)
    return int(np.mean(widths))


def test_shape_mode_and_determinism():
    a = render_frontal(ReportFindings(), np.random.default_rng(1))
    b = render_frontal(ReportFindings(), np.random.default_rng(1))
    assert a.shape == (N, N) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, render_frontal(ReportFindings(), np.random.default_rng(2)))


def test_cardiomegaly_widens_the_heart_shadow():
    normal, borderline, enlarged = (
        heart_width(_frontal(heart=h)) for h in ("normal", "borderline", "enlarged")
    )
    assert normal < borderline < enlarged
    # cardiothoracic ratio 0.42 vs 0.60 of a 0.75-wide thorax: about 50 vs 72 pixels
    assert 44 <= normal <= 56 and 66 <= enlarged <= 78


def costophrenic_zone(img: np.ndarray, side: str) -> float:
    """Mean grey level of the lateral half of a lung base (patient left = image right)."""
    cx = LUNG_CENTER_X[side]
    x0, x1 = (cx, cx + 0.15) if side == "left" else (cx - 0.15, cx)
    return float(_box(img, x0, x1, 0.56, 0.68).mean())


@pytest.mark.parametrize("side", ["left", "right"])
def test_effusion_whitens_its_own_lower_zone_only(side: str):
    other = "right" if side == "left" else "left"
    normal = _frontal()
    effusion = _frontal(effusions=[Effusion(side=side, size="small")])
    large = _frontal(effusions=[Effusion(side=side, size="large")])
    assert costophrenic_zone(effusion, side) > costophrenic_zone(normal, side) + 40
    assert costophrenic_zone(effusion, other) == pytest.approx(
        costophrenic_zone(normal, other), abs=2
    )
    mid = (LUNG_CENTER_X[side] - 0.1, LUNG_CENTER_X[side] + 0.1, 0.45, 0.55)
    assert (
        _box(large, *mid).mean() > _box(effusion, *mid).mean() + 30
    )  # a large effusion rises higher


def test_opacity_and_nodule_add_density_in_their_zone():
    normal = _frontal()
    opacity = _frontal(opacities=[LungLesion(side="right", zone="upper")])
    cx = LUNG_CENTER_X["right"]
    upper = (cx - 0.06, cx + 0.06, ZONE_Y["upper"] - 0.04, ZONE_Y["upper"] + 0.04)
    lower = (cx - 0.06, cx + 0.06, ZONE_Y["lower"] - 0.04, ZONE_Y["lower"] + 0.04)
    assert _box(opacity, *upper).mean() > _box(normal, *upper).mean() + 40
    assert abs(_box(opacity, *lower).mean() - _box(normal, *lower).mean()) < 3
    nodule = _frontal(nodules=[LungLesion(side="left", zone="middle")])
    nx = LUNG_CENTER_X["left"] + 0.05
    spot = (nx - 0.015, nx + 0.015, ZONE_Y["middle"] - 0.045, ZONE_Y["middle"] - 0.015)
    assert _box(nodule, *spot).mean() > _box(normal, *spot).mean() + 80


def test_pneumothorax_leaves_a_dark_rim_without_markings():
    normal = _frontal()
    ptx = _frontal(pneumothorax=["right"])
    rim = (0.15, 0.19, 0.30, 0.50)  # lateral edge of the right lung (image left)
    assert _box(ptx, *rim).mean() < _box(normal, *rim).mean() - 15
    left_rim = (0.81, 0.85, 0.30, 0.50)
    assert _box(ptx, *left_rim).mean() == pytest.approx(_box(normal, *left_rim).mean(), abs=2)


def _lung_bottom(img: np.ndarray, x: float) -> int:
    column = img[:, int(x * N)]
    rows = np.nonzero(column[int(0.3 * N) :] > 110)[0]
    return int(rows[0]) + int(0.3 * N)


def test_hyperinflation_lowers_and_flattens_the_diaphragm():
    normal, hyper = _frontal(), _frontal(hyperinflation=True)
    cx = LUNG_CENTER_X["right"]
    assert _lung_bottom(hyper, cx) > _lung_bottom(normal, cx) + 10
    dome_normal = _lung_bottom(normal, cx - 0.12) - _lung_bottom(normal, cx)
    dome_hyper = _lung_bottom(hyper, cx - 0.12) - _lung_bottom(hyper, cx)
    assert dome_hyper < dome_normal


def test_wires_clips_fracture_and_spine_are_bright_marks():
    normal = _frontal()
    metal = _frontal(sternotomy=True, surgical_clips=True)
    assert (
        (_box(metal, 0.47, 0.53, 0.22, 0.55) > 205).sum()
        > 20
        > (_box(normal, 0.47, 0.53, 0.22, 0.55) > 205).sum()
    )
    assert (
        (_box(metal, 0.22, 0.36, 0.85, 0.92) > 205).sum()
        > 5
        > (_box(normal, 0.22, 0.36, 0.85, 0.92) > 205).sum()
    )
    fracture = _frontal(fractures=["left"])
    assert (
        _box(fracture, 0.80, 0.86, 0.46, 0.55).max()
        > _box(normal, 0.80, 0.86, 0.46, 0.55).max() + 40
    )
    spine = _frontal(degenerative_spine=True)
    assert (
        _box(spine, 0.45, 0.55, 0.30, 0.62).mean() > _box(normal, 0.45, 0.55, 0.30, 0.62).mean() + 3
    )


def test_lateral_view_carries_heart_size_and_posterior_fluid():
    rng = lambda: np.random.default_rng(3)
    normal = render_lateral(ReportFindings(), rng()).astype(float)
    enlarged = render_lateral(ReportFindings(heart="enlarged"), rng()).astype(float)
    effusion = render_lateral(
        ReportFindings(effusions=[Effusion(side="left", size="large")]), rng()
    ).astype(float)
    assert (_box(enlarged, 0.2, 0.6, 0.5, 0.7) > 140).sum() > (
        _box(normal, 0.2, 0.6, 0.5, 0.7) > 140
    ).sum() * 1.3
    assert (
        _box(effusion, 0.62, 0.78, 0.62, 0.72).mean()
        > _box(normal, 0.62, 0.78, 0.62, 0.72).mean() + 40
    )


def _demo_images(demo_root: Path, predicate) -> list[np.ndarray]:
    dataset_dir = demo_root / "training" / "Xray" / "IU_XRay"
    images = []
    for line in (dataset_dir / "demo_metadata.jsonl").read_text().splitlines():
        meta = json.loads(line)
        if predicate(meta["findings"]):
            images.append(np.asarray(Image.open(dataset_dir / meta["images"][0]), dtype=float))
    return images


def test_demo_reports_with_cardiomegaly_have_wider_hearts(demo_root: Path):
    enlarged = [
        heart_width(img) for img in _demo_images(demo_root, lambda f: f["heart"] == "enlarged")
    ]
    normal = [
        heart_width(img)
        for img in _demo_images(demo_root, lambda f: f["heart"] == "normal" and not f["effusions"])
    ]
    assert len(enlarged) >= 20 and len(normal) >= 300
    assert np.mean(enlarged) > np.mean(normal) + 15
    assert np.median(enlarged) > np.percentile(normal, 95)


def test_demo_reports_with_left_effusion_have_a_whiter_left_base(demo_root: Path):
    with_fluid = [
        costophrenic_zone(i, "left")
        for i in _demo_images(demo_root, lambda f: any(e["side"] == "left" for e in f["effusions"]))
    ]
    clear = [
        costophrenic_zone(i, "left")
        for i in _demo_images(
            demo_root,
            lambda f: f["heart"] == "normal" and not f["effusions"] and not f["opacities"],
        )
    ]
    assert len(with_fluid) >= 3 and len(clear) >= 300
    assert min(with_fluid) > np.percentile(clear, 99)
