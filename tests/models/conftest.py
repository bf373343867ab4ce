"""Fixtures for the model-family tests: tiny twins built once per session, synthetic images."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from rrg.models import FAMILY_NAMES, get_family


@pytest.fixture(scope="session")
def xdg_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ``XDG_CACHE_HOME`` holding this session's tiny twins (rrg's cache is ``<it>/rrg``)."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(scope="session")
def tiny_dir(xdg_cache: Path) -> Callable[[str], Path]:
    """Build (once per session) and return the tiny twin folder of a family."""

    def build(name: str) -> Path:
        return get_family(name).tiny_path(xdg_cache / "rrg")

    return build


@pytest.fixture(params=FAMILY_NAMES)
def family_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def make_images() -> Callable[..., list]:
    """``make_images(count, seed=0)``: deterministic synthetic chest-film-like RGB images."""
    return synthetic_images


def synthetic_images(count: int, seed: int = 0, size: tuple[int, int] = (96, 80)) -> list:
    """Chest-film-like grey images: a bright thorax ellipse on a dark field, plus noise."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    height, width = size[1], size[0]
    ys, xs = np.mgrid[0:height, 0:width]
    images = []
    for index in range(count):
        cy, cx = height / 2 + index, width / 2 - index
        thorax = (((ys - cy) / (0.42 * height)) ** 2 + ((xs - cx) / (0.38 * width)) ** 2) < 1
        pixels = 40 + 150 * thorax + rng.normal(0, 12, size=(height, width))
        grey = np.clip(pixels, 0, 255).astype("uint8")
        images.append(Image.fromarray(grey, mode="L").convert("RGB"))
    return images
