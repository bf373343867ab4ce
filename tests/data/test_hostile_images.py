"""Hostile images: a decompression bomb and a PNG whose chunks check out but whose pixel data is
broken are image problems found before anything runs, under both image policies and in
``rrg data inspect``; ``max_image_pixels`` bounds every image."""

from __future__ import annotations

import resource
import struct
import time
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from flare_trees import item, make_split
from rrg.cli import cli
from rrg.data.flare import load_flare, load_images
from rrg.errors import RrgError


def _png(width: int, height: int, pixel_data: bytes) -> bytes:
    """A grey 8-bit PNG with the given (zlib-compressed) IDAT payload and valid CRCs everywhere."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixel_data)) + chunk(b"IEND", b"")


BOMB = _png(20_000, 20_000, b"\x00" * 64)  # 400 Mpx announced in a 100-byte file
BROKEN = _png(64, 64, b"\x00" * 100)  # 64 rows need 4,160 bytes; the chunks' CRCs are all valid


@pytest.fixture
def hostile_root(tmp_path: Path) -> Path:
    root = tmp_path / "organized_dataset"
    images = make_split(root, [item("good.png"), item("bomb.png"), item("broken.png")], images=("good.png",))
    (images / "imagesTr" / "bomb.png").write_bytes(BOMB)
    (images / "imagesTr" / "broken.png").write_bytes(BROKEN)
    return root


def test_a_decompression_bomb_fails_in_one_line_fast(hostile_root: Path) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(RrgError, match=r"IU_XRay/training/1: image bomb.png is too large \(400,000,000 pixels, more than data.max_image_pixels 40,000,000\)"):
        load_flare(hostile_root, split="training")
    assert time.perf_counter() - start < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB: no 400 Mpx buffer


def test_skip_drops_the_bomb_and_the_broken_png(hostile_root: Path) -> None:
    split = load_flare(hostile_root, split="training", image_policy="skip")
    assert split.size == 1
    reasons = dict(split.skipped)
    assert "too large" in reasons["IU_XRay/training/1"]
    assert reasons["IU_XRay/training/2"].startswith("image broken.png is not a readable image (")


def test_broken_pixel_data_is_found_before_the_run(hostile_root: Path, tmp_path: Path) -> None:
    only_broken = tmp_path / "broken_only"
    images = make_split(only_broken, [item("broken.png")])
    (images / "imagesTr" / "broken.png").write_bytes(BROKEN)
    with pytest.raises(RrgError, match="image broken.png is not a readable image"):
        load_flare(only_broken, split="training")


def test_max_image_pixels_bounds_every_image(hostile_root: Path) -> None:
    with pytest.raises(RrgError, match=r"image good.png is too large \(64 pixels, more than data.max_image_pixels 10\)"):
        load_flare(hostile_root, split="training", limit=1, max_image_pixels=10)
    with pytest.raises(RrgError, match="bomb.png is too large"):
        load_images([hostile_root / "training/Xray/IU_XRay/imagesTr/bomb.png"])


def test_data_inspect_lists_them_without_a_traceback(hostile_root: Path) -> None:
    result = CliRunner().invoke(cli, ["data", "inspect", str(hostile_root)])
    assert result.exit_code == 1 and (result.exception is None or isinstance(result.exception, SystemExit)), result.output
    assert "Traceback" not in result.output
    assert "image problems (2 samples skipped):" in result.output
    assert "bomb.png is too large" in result.output and "broken.png is not a readable image" in result.output


def test_content_decoded_once_is_not_decoded_again(hostile_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import ImageFile

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    loads: list[int] = []
    real = ImageFile.ImageFile.load

    def counting(self):
        loads.append(1)
        return real(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting)
    first = load_flare(hostile_root, split="training", image_policy="skip")
    decoded = len(loads)
    second = load_flare(hostile_root, split="training", image_policy="skip")
    assert decoded == 2  # good.png decoded and recorded; broken.png decoded and refused (the bomb never is)
    assert len(loads) == decoded + 1  # only broken.png again: good.png's content is on record
    assert first.fingerprint == second.fingerprint and dict(second.skipped) == dict(first.skipped)
