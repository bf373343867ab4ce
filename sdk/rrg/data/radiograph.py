"""Synthetic chest radiographs drawn from :class:`~rrg.data.findings.ReportFindings`.

Each report of the demo set gets a frontal (PA) and a lateral picture, square, grey-scale,
:data:`IMAGE_SIZE` pixels a side, drawn with numpy: brighter means denser (bone, fluid, soft
tissue), darker means air, as on a radiograph. The frontal view is displayed the radiological
way: the patient's right is on the image's left. The lateral view faces left (anterior on the
image's left, the spine on the right).

All geometry is in unit coordinates (``x`` to the right, ``y`` down, both 0..1) and lives in the
constants below so tests and ``docs/data.md`` can point at it. The pictures are deterministic:
the only randomness is mild Gaussian noise from a generator seeded by the caller (the demo seeds
it with a hash of the report uid and the view).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rrg.data.findings import ReportFindings

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

IMAGE_SIZE = 160

# Frontal view. Lung centres per patient side (patient right = image left).
LUNG_CENTER_X = {"right": 0.29, "left": 0.71}
LUNG_CENTER_Y = 0.46
LUNG_RADII = (0.165, 0.33)
# Thorax width: from the lateral edge of one lung to the other.
THORAX_WIDTH = LUNG_CENTER_X["left"] - LUNG_CENTER_X["right"] + 2 * LUNG_RADII[0]
HEART_CENTER = (0.53, 0.63)
HEART_HEIGHT = 0.11
ZONE_Y = {"upper": 0.28, "middle": 0.45, "lower": 0.60}
# Diaphragm dome: its top under each lung centre, and how far it falls to the lateral edge.
DOME_TOP = {"right": 0.70, "left": 0.725}
DOME_FALL = 0.09
HYPERINFLATED_DOME_TOP = {"right": 0.79, "left": 0.80}
HYPERINFLATED_DOME_FALL = 0.025
# Effusion: height of the fluid at the lateral chest wall; the meniscus falls medially.
EFFUSION_LEVEL = {"small": 0.60, "large": 0.46}

# Grey levels (0 black .. 1 white).
AIR, SOFT_TISSUE, LUNG, HYPERINFLATED_LUNG, MEDIASTINUM, HEART, ABDOMEN = (
    0.04,
    0.42,
    0.13,
    0.09,
    0.62,
    0.66,
    0.52,
)
FLUID, METAL, NOISE_SIGMA = 0.60, 0.97, 0.018


class _Canvas:
    """A float image with unit-coordinate grids and small drawing primitives."""

    def __init__(self, size: int) -> None:
        import numpy as np

        self.np = np
        centers = (np.arange(size, dtype=np.float32) + 0.5) / size
        self.y, self.x = np.meshgrid(centers, centers, indexing="ij")
        self.img = np.full((size, size), AIR, dtype=np.float32)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
        return ((self.x - cx) / rx) ** 2 + ((self.y - cy) / ry) ** 2 <= 1.0

    def blob(self, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
        return self.np.exp(-0.5 * (((self.x - cx) / sx) ** 2 + ((self.y - cy) / sy) ** 2))

    def segment(self, x0: float, y0: float, x1: float, y1: float, half_width: float) -> np.ndarray:
        np = self.np
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((self.x - x0) * dx + (self.y - y0) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
        return (self.x - (x0 + t * dx)) ** 2 + (self.y - (y0 + t * dy)) ** 2 <= half_width**2

    def ring(self, cx: float, cy: float, rx: float, ry: float, width: float) -> np.ndarray:
        r = self.np.sqrt(((self.x - cx) / rx) ** 2 + ((self.y - cy) / ry) ** 2)
        return self.np.abs(r - 1.0) <= width

    def markings(self, hx: float, hy: float, reach: float, phase: float) -> np.ndarray:
        """Faint vessel lines radiating from a hilum: lung markings."""
        np = self.np
        angle = np.arctan2(self.y - hy, self.x - hx)
        dist = np.sqrt((self.x - hx) ** 2 + (self.y - hy) ** 2)
        lines = np.abs(np.sin(13.0 * angle + phase)) < 0.13
        return np.where(lines & (dist < reach), 0.07 * (1.0 - dist / reach), 0.0)

    def finish(self, rng: np.random.Generator) -> np.ndarray:
        from PIL import Image, ImageFilter

        np = self.np
        img = self.img + rng.normal(0.0, NOISE_SIGMA, self.img.shape).astype(np.float32)
        pixels = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
        blurred = Image.fromarray(pixels, mode="L").filter(ImageFilter.GaussianBlur(radius=0.8))
        return np.asarray(blurred, dtype=np.uint8)


def heart_half_width(findings: ReportFindings) -> float:
    """Half the width of the frontal heart shadow: cardiothoracic ratio × thorax width / 2."""
    return findings.cardiothoracic_ratio * THORAX_WIDTH / 2


def render_frontal(
    findings: ReportFindings, rng: np.random.Generator, size: int = IMAGE_SIZE
) -> np.ndarray:
    """The PA view of ``findings`` as a ``size``×``size`` uint8 array."""
    c = _Canvas(size)
    np = c.np
    x, y = c.x, c.y
    hyper = findings.hyperinflation
    c.img[c.ellipse(0.5, 0.57, 0.47, 0.52)] = SOFT_TISSUE

    lungs: dict[str, np.ndarray] = {}
    domes: dict[str, np.ndarray] = {}
    rx, ry = LUNG_RADII
    for side, cx in LUNG_CENTER_X.items():
        top = (HYPERINFLATED_DOME_TOP if hyper else DOME_TOP)[side]
        fall = HYPERINFLATED_DOME_FALL if hyper else DOME_FALL
        domes[side] = top + fall * ((x - cx) / rx) ** 2
        hemithorax = c.ellipse(
            cx, LUNG_CENTER_Y + (0.04 if hyper else 0.0), rx, ry + (0.05 if hyper else 0.0)
        )
        lungs[side] = hemithorax & (y < domes[side])
        c.img[lungs[side]] = HYPERINFLATED_LUNG if hyper else LUNG
        c.img[hemithorax & (y >= domes[side])] = ABDOMEN
    under_domes = (
        (y >= np.minimum(domes["right"], domes["left"]))
        & c.ellipse(0.5, 0.57, 0.47, 0.52)
        & (y > 0.6)
    )
    c.img[under_domes & (c.img < ABDOMEN)] = ABDOMEN
    clear = np.ones_like(c.img, dtype=bool)  # where lung markings may be drawn

    # Pleural effusion: fluid fills the hemithorax below a meniscus that rises laterally.
    for effusion in findings.effusions:
        cx = LUNG_CENTER_X[effusion.side]
        lateral_edge = cx + (-rx if effusion.side == "right" else rx)
        border = EFFUSION_LEVEL[effusion.size] + 1.1 * (x - lateral_edge) ** 2  # concave meniscus
        fluid = c.ellipse(cx, LUNG_CENTER_Y, rx * 1.04, ry * 1.06) & (y > border)
        c.img[fluid] = FLUID
        clear &= ~fluid
    # Pneumothorax: the lung collapses medially; the rim left is air without markings.
    for side in findings.pneumothorax:
        cx = LUNG_CENTER_X[side]
        medial_shift = 0.045 if side == "right" else -0.045
        collapsed = c.ellipse(cx + medial_shift, LUNG_CENTER_Y + 0.03, rx * 0.70, ry * 0.84)
        rim = lungs[side] & ~collapsed
        c.img[rim] = AIR
        c.img[
            lungs[side]
            & c.ring(cx + medial_shift, LUNG_CENTER_Y + 0.03, rx * 0.70, ry * 0.84, 0.03)
        ] = 0.32
        clear &= ~rim
    for side, cx in LUNG_CENTER_X.items():
        hilum_x = 0.5 + (-0.10 if side == "right" else 0.10)
        c.img += np.where(
            lungs[side] & clear,
            c.markings(hilum_x, 0.45, 0.32, 0.7 if side == "left" else 0.0),
            0.0,
        )

    # Mediastinum, aortic knob, heart, spine.
    c.img[(np.abs(x - 0.5) < 0.062) & (y > 0.06) & (y < 0.66)] = MEDIASTINUM
    c.img[c.ellipse(0.555, 0.27, 0.04, 0.035)] = MEDIASTINUM
    half_width = heart_half_width(findings)
    height = HEART_HEIGHT * (1.0 + 0.6 * (findings.cardiothoracic_ratio - 0.42))
    heart = c.ellipse(HEART_CENTER[0], HEART_CENTER[1], half_width, height) & (
        y < np.maximum(domes["left"], domes["right"]) + 0.02
    )
    c.img[heart] = HEART
    spine = np.abs(x - 0.5) < 0.028
    c.img += np.where(spine & (y > 0.04), 0.10, 0.0)
    c.img -= np.where(spine & (np.abs(((y - 0.04) % 0.055) - 0.0275) > 0.024), 0.07, 0.0)

    # Posterior ribs and clavicles.
    thorax = c.ellipse(0.5, LUNG_CENTER_Y + 0.02, 0.40, 0.37) & (np.abs(x - 0.5) > 0.03)
    for k in range(9):
        curve = 0.13 + 0.068 * k + 0.09 * ((x - 0.5) / 0.38) ** 2
        c.img += np.where(thorax & (np.abs(y - curve) < 0.0085), 0.09, 0.0)
    for sign in (-1, 1):
        c.img[c.segment(0.5 + sign * 0.05, 0.16, 0.5 + sign * 0.34, 0.10, 0.011)] += 0.18

    # Parenchymal findings (drawn over ribs so they read as density in the lung).
    for lesion in findings.opacities:
        cx = LUNG_CENTER_X[lesion.side]
        c.img += np.where(
            lungs[lesion.side], 0.34 * c.blob(cx, ZONE_Y[lesion.zone], 0.06, 0.05), 0.0
        )
    for lesion in findings.nodules:
        cx = LUNG_CENTER_X[lesion.side] + (-0.05 if lesion.side == "right" else 0.05)
        c.img[c.ellipse(cx, ZONE_Y[lesion.zone] - 0.03, 0.022, 0.022)] = 0.74

    # Bones and devices.
    for side in findings.fractures:
        sign = -1 if side == "right" else 1
        fx = 0.5 + sign * 0.33
        fy = 0.13 + 0.068 * 5 + 0.09 * ((fx - 0.5) / 0.38) ** 2
        c.img[c.ellipse(fx, fy, 0.028, 0.016)] = 0.80
        c.img[c.segment(fx - 0.006, fy - 0.02, fx + 0.006, fy + 0.02, 0.004)] = AIR + 0.1
    if findings.degenerative_spine:
        for level in range(5, 11):
            yy = 0.04 + 0.055 * level
            for sign in (-1, 1):
                c.img[c.segment(0.5 + sign * 0.026, yy, 0.5 + sign * 0.045, yy + 0.008, 0.006)] = (
                    0.85
                )
    if findings.sternotomy:
        for k in range(5):
            c.img[c.ring(0.5, 0.26 + 0.065 * k, 0.02, 0.011, 0.3)] = METAL
    if findings.surgical_clips:
        for k in range(3):
            c.img[c.segment(0.25 + 0.035 * k, 0.87, 0.265 + 0.035 * k, 0.90, 0.0045)] = METAL
    return c.finish(rng)


# Lateral view geometry.
LATERAL_LUNG = (0.53, 0.46, 0.28, 0.33)  # centre x, centre y, radius x, radius y
LATERAL_HEART_CENTER = (0.37, 0.61)
LATERAL_SPINE_X = 0.79
LATERAL_DOME = {"top": 0.69, "fall": 0.13, "hyper_top": 0.79, "hyper_fall": 0.03}
LATERAL_EFFUSION_LEVEL = {"small": 0.66, "large": 0.52}


def render_lateral(
    findings: ReportFindings, rng: np.random.Generator, size: int = IMAGE_SIZE
) -> np.ndarray:
    """The lateral view of ``findings`` (anterior to the left) as a ``size``×``size`` uint8 array."""
    c = _Canvas(size)
    np = c.np
    x, y = c.x, c.y
    hyper = findings.hyperinflation
    body = c.ellipse(0.52, 0.57, 0.41, 0.52)
    c.img[body] = SOFT_TISSUE
    lx, ly, lrx, lry = LATERAL_LUNG
    top = LATERAL_DOME["hyper_top" if hyper else "top"]
    fall = LATERAL_DOME["hyper_fall" if hyper else "fall"]
    dome = top + fall * ((x - 0.40) / 0.35) ** 2  # lowest posteriorly: the posterior recess
    field = c.ellipse(
        lx - (0.02 if hyper else 0.0),
        ly + (0.03 if hyper else 0.0),
        lrx + (0.03 if hyper else 0.0),
        lry + (0.04 if hyper else 0.0),
    )
    lung = field & (y < dome)
    c.img[lung] = HYPERINFLATED_LUNG if hyper else LUNG
    c.img[body & (y >= dome) & (y > 0.55)] = ABDOMEN
    clear = np.ones_like(c.img, dtype=bool)

    for effusion in findings.effusions:
        level = LATERAL_EFFUSION_LEVEL[effusion.size] + (0.03 if effusion.side == "left" else 0.0)
        border = level + 1.2 * np.clip(0.80 - x, 0.0, None) ** 2
        fluid = field & (x > 0.50) & (y > border)
        c.img[fluid] = FLUID
        clear &= ~fluid
    if findings.pneumothorax:
        rim = lung & (y < 0.34) & (x < 0.47)
        c.img[rim] = AIR
        clear &= ~rim
    c.img += np.where(lung & clear, c.markings(0.53, 0.45, 0.30, 0.3), 0.0)

    # Trachea, aortic arch, heart, sternum, spine.
    c.img[c.segment(0.50, 0.03, 0.53, 0.36, 0.016)] = 0.2
    c.img[lung & c.ring(0.53, 0.30, 0.075, 0.06, 0.22)] = 0.50
    ratio = findings.cardiothoracic_ratio / 0.42
    heart = (
        c.ellipse(
            LATERAL_HEART_CENTER[0] + 0.03 * (ratio - 1.0),
            LATERAL_HEART_CENTER[1],
            0.12 * ratio,
            0.13 * (1 + 0.5 * (ratio - 1)),
        )
        & (y < dome + 0.02)
        & body
    )
    c.img[heart] = HEART
    c.img[c.segment(0.20, 0.17, 0.235, 0.62, 0.011)] = 0.70
    for level in range(14):
        yy = 0.05 + 0.062 * level
        sx = LATERAL_SPINE_X - 0.03 * np.sin(np.pi * yy)  # gentle kyphosis
        c.img[c.ellipse(sx, yy, 0.042, 0.025)] = 0.74
    for k in range(7):
        curve = 0.20 + 0.075 * k - 0.08 * (x - 0.75)
        c.img += np.where(field & (np.abs(y - curve) < 0.006) & (x > 0.45), 0.06, 0.0)

    for lesion in findings.opacities:
        c.img += np.where(lung, 0.20 * c.blob(0.56, ZONE_Y[lesion.zone], 0.07, 0.05), 0.0)
    for lesion in findings.nodules:
        nx = 0.56 + (0.04 if lesion.side == "left" else 0.0)
        c.img[c.ellipse(nx, ZONE_Y[lesion.zone] - 0.03, 0.02, 0.02)] = 0.72
    if findings.degenerative_spine:
        for level in range(5, 12):
            yy = 0.05 + 0.062 * level
            sx = LATERAL_SPINE_X - 0.03 * np.sin(np.pi * yy) - 0.042
            for dy in (-0.024, 0.024):
                c.img[c.segment(sx, yy + dy, sx - 0.018, yy + dy * 1.3, 0.0055)] = 0.88
    if findings.sternotomy:
        for k in range(5):
            c.img[c.ring(0.215 + 0.0075 * k, 0.24 + 0.08 * k, 0.012, 0.018, 0.3)] = METAL
    if findings.surgical_clips:
        for k in range(3):
            c.img[c.segment(0.33 + 0.03 * k, 0.86, 0.34 + 0.03 * k, 0.89, 0.0045)] = METAL
    return c.finish(rng)
