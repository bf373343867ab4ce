"""Read one split of a FLARE 2025 Task 5 data set into a light ``datasets.Dataset``.

The question file is a JSON list of items with ``TaskType``, ``Modality``, ``ImageName`` (one
name or a list), ``Question``, ``Answer`` (absent in unlabelled test files) and ``Split``.
Each item becomes one row:

====================  =====================================================================
``sample_id``         ``"<dataset>/<split>/<index>"``, index = position in the question file
``dataset``           data set folder name, e.g. ``IU_XRay``
``split``             split folder name, e.g. ``training``
``task_type``         ``TaskType`` as written
``modality``          ``Modality`` as written
``question``          ``Question``
``answer``            ``Answer`` as training text for its task type (:func:`rrg.data.tasks.answer_text`:
                      text as written, numbers as written, label lists joined, boxes as JSON
                      text), or null when absent
``image_paths``       absolute paths of the item's images, frontal view first when the names
                      say which is which (``frontal``/``PA``/``AP`` vs ``lateral``/``LL``/``RL``)
====================  =====================================================================

Images are not embedded: the trainer opens them with :func:`load_images` when it needs them.

Image names are resolved strictly inside the split's image folder. A leading image-folder
component (``imagesTr/``, ``imagesVal/``, ``imagesTs/``, ``images/``) is dropped, so both
``"imagesTr/CXR1_frontal.png"`` and ``"CXR1_frontal.png"`` work. An absolute name, a ``..``
component or a symbolic link that leads outside the folder is always an error naming the sample.
A missing or unreadable image follows ``image_policy``: ``"fail"`` raises an error naming the sample,
the image and the problem; ``"skip"`` drops the sample and lists it in :attr:`FlareSplit.skipped`.
Every image is decoded in full once (its content's sha256 is then recorded in rrg's cache, so later
reads of the same content skip the decode), so a file whose chunks check out but whose pixel data is
broken is found before a run starts, and one larger than ``max_image_pixels`` (default
:data:`MAX_IMAGE_PIXELS`) is refused before its pixels are decoded (a decompression bomb, too).

Fingerprint: SHA-256 over the question file's bytes, the ids of the rows kept (so ``limit``,
``task_types`` and skipped samples change it), and, for every image the rows reference, its name
relative to the image folder, its size and the SHA-256 of its bytes. Content hashes rather than
modification times, so that the same data copied or rebuilt elsewhere has the same fingerprint
and any changed answer, question or pixel changes it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rrg.data.layout import IMAGE_FOLDER_NAMES, SplitLocation, locate_split
from rrg.data.tasks import (
    AnswerShapeError,
    WrittenNumber,
    answer_text,
    json_text,
    same_task_type,
    task_type_key,
)
from rrg.errors import InputError, RrgError

if TYPE_CHECKING:  # pragma: no cover
    import datasets
    from PIL import Image

logger = logging.getLogger(__name__)

ImagePolicy = Literal["fail", "skip"]
REPORT_GENERATION = "Report_Generation"
FINGERPRINT_VERSION = "rrg-flare-fingerprint-1"
COLUMNS = (
    "sample_id",
    "dataset",
    "split",
    "task_type",
    "modality",
    "question",
    "answer",
    "image_paths",
)
_SKIP_HINT = (
    'restore or replace the file, or read the split with image_policy="skip" to drop such samples'
)


class FlareItem(BaseModel):
    """One entry of a FLARE question file (extra keys are allowed and ignored)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    task_type: str = Field(alias="TaskType", description="Task type, e.g. Report_Generation.")
    modality: str = Field(alias="Modality", description="Imaging modality, e.g. Xray.")
    image_name: str | list[str] = Field(
        alias="ImageName", description="One image name or a list of them."
    )
    question: str = Field(alias="Question", description="The question put to the model.")
    answer: Any = Field(
        default=None, alias="Answer", description="Reference answer; absent in unlabelled files."
    )
    split: str | None = Field(
        default=None, alias="Split", description="Split label as written in the file."
    )


@dataclass(frozen=True)
class FlareSplit:
    """One split of one FLARE data set, read and checked."""

    name: str
    split: str
    dataset: datasets.Dataset
    fingerprint: str
    skipped: list[tuple[str, str]]
    questions_file: Path
    images_dir: Path
    task_types: dict[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Number of rows."""
        return len(self.dataset)


_LATERAL = re.compile(r"(?:^|[^a-z])(?:lateral|lat|ll|rl)(?:[^a-z]|$)", re.IGNORECASE)
_FRONTAL = re.compile(r"(?:^|[^a-z])(?:frontal|pa|ap)(?:[^a-z]|$)", re.IGNORECASE)


def _view_rank(name: str) -> int:
    stem = PurePosixPath(name).stem
    if _FRONTAL.search(stem):
        return 0
    if _LATERAL.search(stem):
        return 2
    return 1


def resolve_image(images_dir: Path, name: str, sample_id: str) -> Path:
    """The absolute path of image ``name`` inside ``images_dir``; an error if it would leave it."""
    if not name.strip():
        raise InputError(
            f"{sample_id}: empty image name", hint="every ImageName entry must name a file"
        )
    posix = name.replace("\\", "/")
    if PurePosixPath(posix).is_absolute() or PureWindowsPath(name).drive:
        raise InputError(
            f"{sample_id}: image name {name!r} is an absolute path",
            hint=f"image names must be relative to {images_dir}",
        )
    parts = [p for p in PurePosixPath(posix).parts if p != "."]
    if parts and parts[0] in IMAGE_FOLDER_NAMES:
        parts = parts[1:]
    if not parts or ".." in parts:
        raise InputError(
            f"{sample_id}: image name {name!r} leaves the image folder {images_dir}",
            hint="image names may not contain '..'",
        )
    base = images_dir.resolve()
    candidate = base.joinpath(*parts)
    if not candidate.resolve().is_relative_to(base):
        raise InputError(
            f"{sample_id}: image {name!r} is a link to {candidate.resolve()}, outside the image folder {base}",
            hint="copy the image into the image folder instead of linking to it",
        )
    return candidate


MAX_IMAGE_PIXELS = 40_000_000
"""Default pixel limit per image (``data.max_image_pixels``): chest films in FLARE are at most about
3,000 px a side (9 Mpx), so 40 Mpx leaves a fourfold margin and refuses decompression bombs long
before they take gigabytes."""


@contextmanager
def _pixel_limit(max_pixels: int) -> Iterator[None]:
    """PIL's own decompression-bomb guard set to ``max_pixels`` (an error, not a warning)."""
    from PIL import Image

    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _image_problem(exc: BaseException, max_pixels: int) -> str:
    from PIL import Image

    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)):,} pixels, " if found else ""
        return f"is too large ({size}more than data.max_image_pixels {max_pixels:,})"
    detail = str(exc).replace(" <_io.BytesIO object", "").split(" at 0x")[0] or type(exc).__name__
    return f"is not a readable image ({detail})"


def _check_image(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[str | None, int, str]:
    """``(problem, size, sha256)`` for one image file; ``problem`` is None when it is readable:
    its chunks verify, it has at most ``max_pixels`` pixels, and its pixel data decodes in full."""
    from PIL import Image, UnidentifiedImageError

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "is missing", 0, ""
    except IsADirectoryError:
        return "is a folder, not an image file", 0, ""
    except PermissionError:
        return "cannot be read (permission denied)", 0, ""
    digest = hashlib.sha256(data).hexdigest()
    decoded = _decoded_marker(digest)
    try:
        with _pixel_limit(max_pixels):
            with Image.open(io.BytesIO(data)) as image:  # the header: format, size, bomb limit
                image.verify()
            if not decoded.is_file():  # content decoded once already need not be again
                with Image.open(io.BytesIO(data)) as image:  # verify() leaves the image unusable
                    image.load()
                _touch(decoded)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return _image_problem(exc, max_pixels), len(data), ""
    return None, len(data), digest


def _decoded_marker(digest: str) -> Path:
    """The cache's record that the image content with this sha256 decoded in full once: a full
    decode costs about 25 ms a chest film, so a split is decoded on its first read, not every run."""
    from rrg.paths import cache_dir

    return cache_dir() / "images-decoded" / digest[:2] / digest


def _touch(marker: Path) -> None:
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:  # a read-only cache only costs the decode next time
        pass


def _answer(location: SplitLocation, index: int, item: FlareItem, sample_id: str) -> str | None:
    """The item's answer as training text; an answer that does not fit its task type is an error
    naming the sample."""
    try:
        return answer_text(item.answer, item.task_type)
    except AnswerShapeError as exc:
        shown = json_text(item.answer)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise InputError(
            f"{location.questions_file}: item {index} ({sample_id}): {item.task_type} answer {shown}: {exc}",
            hint="correct the Answer, or leave this task type out with task_types",
        ) from None


def _read_items(location: SplitLocation) -> tuple[bytes, list[Any]]:
    path = location.questions_file
    raw = path.read_bytes()
    try:
        items = json.loads(raw, parse_float=WrittenNumber)  # numbers keep the digits they were written with
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"{path}: not valid JSON ({exc})",
            hint="a FLARE question file is one JSON list of objects",
        ) from None
    if not isinstance(items, list):
        raise InputError(
            f"{path}: expected a JSON list of questions, found {type(items).__name__}",
            hint="a FLARE question file is one JSON list of objects",
        )
    if not items:
        raise InputError(
            f"{path}: the question list is empty", hint="check that the file is the one you meant"
        )
    return raw, items


def _parse_item(location: SplitLocation, index: int, item: Any, sample_id: str) -> FlareItem:
    try:
        return FlareItem.model_validate(item)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "item"
        raise InputError(
            f"{location.questions_file}: item {index} ({sample_id}): {where}: {error['msg']}",
            hint="each item needs TaskType, Modality, ImageName (string or list), Question and usually Answer",
        ) from None


def load_flare(
    root: str | Path,
    dataset: str = "IU_XRay",
    split: str = "training",
    category: str = "Xray",
    image_policy: ImagePolicy = "fail",
    limit: int | None = None,
    task_types: str | Iterable[str] | None = None,
    max_image_pixels: int = MAX_IMAGE_PIXELS,
) -> FlareSplit:
    """Read ``<root>/<split>/<category>/<dataset>`` into a :class:`FlareSplit`.

    ``limit`` keeps the first ``limit`` usable rows in file order (after the task filter and the
    image policy). ``task_types`` keeps only those task types, compared loosely
    (:func:`rrg.data.tasks.same_task_type`; pass :data:`REPORT_GENERATION` for report generation only).
    """
    import datasets

    if image_policy not in ("fail", "skip"):
        raise RrgError(f"unknown image_policy {image_policy!r}", hint='use "fail" or "skip"')
    if limit is not None and limit < 0:
        raise RrgError(
            f"limit must be 0 or more, got {limit}", hint="leave it unset to read every sample"
        )
    wanted = None if task_types is None else ([task_types] if isinstance(task_types, str) else list(task_types))
    location = locate_split(root, dataset, split, category)
    raw, items = _read_items(location)

    rows: dict[str, list[Any]] = {column: [] for column in COLUMNS}
    skipped: list[tuple[str, str]] = []
    seen_task_types: Counter[str] = Counter()
    checked: dict[Path, tuple[str | None, int, str]] = {}
    used_images: dict[str, tuple[int, str]] = {}
    images_base = location.images_dir.resolve()
    for index, raw_item in enumerate(items):
        if limit is not None and len(rows["sample_id"]) >= limit:
            break
        sample_id = f"{dataset}/{location.split}/{index}"
        item = _parse_item(location, index, raw_item, sample_id)
        seen_task_types[item.task_type] += 1
        if wanted is not None and not any(same_task_type(item.task_type, w) for w in wanted):
            continue
        names = [item.image_name] if isinstance(item.image_name, str) else list(item.image_name)
        if not names:
            raise InputError(
                f"{location.questions_file}: item {index} ({sample_id}): ImageName is an empty list",
                hint="list at least one image",
            )
        names = sorted(names, key=_view_rank)
        paths = [resolve_image(location.images_dir, name, sample_id) for name in names]
        problem = None
        for name, path in zip(names, paths):
            if path not in checked:
                checked[path] = _check_image(path, max_image_pixels)
            if checked[path][0] is not None:
                problem = (name, path, checked[path][0])
                break
        if problem is not None:
            name, path, what = problem
            if image_policy == "fail":
                raise RrgError(f"{sample_id}: image {name} {what} ({path})", hint=_SKIP_HINT)
            skipped.append((sample_id, f"image {name} {what}"))
            continue
        for path in paths:
            used_images[path.relative_to(images_base).as_posix()] = checked[path][1:]
        rows["sample_id"].append(sample_id)
        rows["dataset"].append(dataset)
        rows["split"].append(location.split)
        rows["task_type"].append(item.task_type)
        rows["modality"].append(item.modality)
        rows["question"].append(item.question)
        rows["answer"].append(_answer(location, index, item, sample_id))
        rows["image_paths"].append([str(p) for p in paths])

    if wanted is not None and not rows["sample_id"] and not skipped and limit != 0:
        raise _no_such_task_type(location, wanted, seen_task_types)
    if skipped:
        reasons = Counter(reason.split(" ", 2)[-1] for _, reason in skipped)
        logger.warning(
            "%s/%s: skipped %d samples with image problems (%s)",
            dataset,
            location.split,
            len(skipped),
            "; ".join(f"{n}× {r}" for r, n in reasons.most_common()),
        )

    fingerprint = dataset_fingerprint(raw, rows["sample_id"], used_images)
    features = datasets.Features(
        {
            **{c: datasets.Value("string") for c in COLUMNS if c != "image_paths"},
            "image_paths": datasets.List(datasets.Value("string")),
        }
    )
    table = datasets.table.InMemoryTable.from_pydict(rows, schema=features.arrow_schema)
    data = datasets.Dataset(
        table, info=datasets.DatasetInfo(features=features), fingerprint=fingerprint
    )
    return FlareSplit(
        name=dataset,
        split=location.split,
        dataset=data,
        fingerprint=fingerprint,
        skipped=skipped,
        questions_file=location.questions_file,
        images_dir=location.images_dir,
        task_types=dict(seen_task_types),
    )


def _no_such_task_type(location: SplitLocation, wanted: list[str], seen: Iterable[str]) -> RrgError:
    return RrgError(
        f"{location.questions_file}: no question has task type {', '.join(sorted({task_type_key(w) for w in wanted}))}",
        hint=f"task types in the file: {', '.join(sorted(set(seen)))}",
    )


@dataclass(frozen=True)
class QuestionCount:
    """What :func:`count_questions` found: the samples a read would keep before images are checked."""

    size: int
    task_types: dict[str, int]
    questions_file: Path


def count_questions(
    root: str | Path,
    dataset: str = "IU_XRay",
    split: str = "training",
    category: str = "Xray",
    limit: int | None = None,
    task_types: str | Iterable[str] | None = None,
) -> QuestionCount:
    """The questions :func:`load_flare` would keep with the same ``limit`` and ``task_types``,
    counted from the question file alone (images are not opened, so an ``image_policy: skip`` read
    may keep fewer), with their task types. Format errors and a task filter that matches nothing
    are the same errors as :func:`load_flare`'s."""
    wanted = None if task_types is None else ([task_types] if isinstance(task_types, str) else list(task_types))
    location = locate_split(root, dataset, split, category)
    _, items = _read_items(location)
    kept: Counter[str] = Counter()
    seen: set[str] = set()
    size = 0
    for index, raw_item in enumerate(items):
        if limit is not None and size >= limit:
            break
        item = _parse_item(location, index, raw_item, f"{dataset}/{location.split}/{index}")
        seen.add(item.task_type)
        if wanted is None or any(same_task_type(item.task_type, w) for w in wanted):
            kept[item.task_type] += 1
            size += 1
    if wanted is not None and not size and limit != 0:
        raise _no_such_task_type(location, wanted, seen)
    return QuestionCount(size, dict(kept), location.questions_file)


def dataset_fingerprint(
    question_bytes: bytes, sample_ids: list[str], images: dict[str, tuple[int, str]]
) -> str:
    """SHA-256 hex over the question file, the kept sample ids and the images (see module docstring)."""
    digest = hashlib.sha256()
    digest.update(FINGERPRINT_VERSION.encode() + b"\0")
    digest.update(hashlib.sha256(question_bytes).digest())
    digest.update(json.dumps(sample_ids).encode())
    for name in sorted(images):
        size, sha = images[name]
        digest.update(f"\0{name}\0{size}\0{sha}".encode())
    return digest.hexdigest()


def load_images(paths: Iterable[str | Path], max_image_pixels: int = MAX_IMAGE_PIXELS) -> list[Image.Image]:
    """Open images as RGB PIL images, in order; an unreadable or too large file is an error naming it."""
    from PIL import Image, UnidentifiedImageError

    images = []
    for path in paths:
        try:
            with _pixel_limit(max_image_pixels), Image.open(path) as image:
                images.append(image.convert("RGB"))
        except FileNotFoundError:
            raise RrgError(
                f"image {path} is missing",
                hint="the data set changed after it was read; read it again",
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise RrgError(
                f"image {path} {_image_problem(exc, max_image_pixels)}",
                hint="replace the file or drop the sample",
            ) from None
    return images
