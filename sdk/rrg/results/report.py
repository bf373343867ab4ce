"""One self-contained HTML report of the study from the registry (``rrg report``).

The report holds, from the registry alone:

* **Table 1**: one row per (stage, model) — the run chosen by the rule of ``rrg table``
  (:mod:`rrg_registry.study`) — with green_flare, BLEU-4 (FLARE) and clinical efficacy, beside the
  study's published values (:mod:`rrg.results.reference`) and the difference;
* **Table 2**: the seven green_flare components of every chosen run that logged them, beside the
  study's;
* the **figures** of :mod:`rrg.results.plots` (GREEN before/after SFT, component box plots, one
  radar chart per model, training curves of the trained runs, the per-region breakdown), embedded
  as ``data:image/png;base64`` URIs;
* a **sample gallery** (:func:`rrg.results.samples.side_by_side`): the hardest, easiest and most
  disputed samples with every chosen run's output and the study's images as small thumbnails;
* the **lineage** of each model's runs (zero-shot → SFT → GRPO: what each run started from);
* every run's **recipe** (``name@version``, content hash, its YAML text), **datasets** (split,
  fingerprint, size), tags, host and seed.

The file needs nothing beside it: no network, no script, no stylesheet or font from elsewhere (the
CSS is inline and uses the system's fonts, and there is no JavaScript). Every text taken from the
registry goes through Jinja2's autoescaping. :func:`write_report` renders the whole page in memory
and only then writes it, to a temporary file in the target folder renamed into place, so an error
leaves no file (and no partial one) behind.
"""

from __future__ import annotations

import base64
import io
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrg.errors import RrgError
from rrg.results.names import COMPONENT_LABELS, STUDY_ORDER, model_name, stage_name

if TYPE_CHECKING:  # pragma: no cover
    from rrg_registry import Registry
    from rrg_registry.entities import RunDetail

TEMPLATE = "report.html.j2"
"""The page template, shipped in ``rrg/assets/``."""

DEFAULT_SAMPLES = 2
"""Samples per gallery group (hardest, easiest, most disputed) unless ``--samples`` says otherwise."""

FIGURE_DPI = 160
"""Resolution of the embedded figures: a 7 in figure is 1120 px, the page's full width."""

RADAR_WIDTH = 3.6
"""Inches: the radar charts (one per model) are drawn half the page wide, two side by side."""

THUMBNAIL_SIZE = 160
"""Longest side, in pixels, of a sample image's thumbnail."""

METRICS: tuple[tuple[str, str], ...] = (
    ("green_flare", "green_flare"),
    ("bleu4_flare", "BLEU-4 (FLARE)"),
    ("ce", "Clinical efficacy"),
)
"""Table 1's metrics, as (registry name, column heading)."""


GALLERY_GROUPS: tuple[tuple[str, str, str], ...] = (
    ("worst", "Hardest samples", "the lowest green_flare averaged over the runs"),
    ("best", "Easiest samples", "the highest green_flare averaged over the runs"),
    ("disagree", "Most disputed samples", "the widest spread of green_flare between the runs"),
)
"""The gallery's groups: (side_by_side keyword, heading, what picks its samples)."""


# ------------------------------------------------------------------------------ what the page shows


@dataclass(frozen=True)
class Cell:
    """A registry value beside the study's published one."""

    value: float | None
    study: float | None = None

    @property
    def delta(self) -> float | None:
        """Registry minus study (None unless both are known)."""
        if self.value is None or self.study is None:
            return None
        return self.value - self.study


@dataclass(frozen=True)
class Table1Row:
    stage: str
    stage_label: str
    model: str
    run: str
    recipe: str
    cells: dict[str, Cell]

    @property
    def published(self) -> bool:
        """Whether the study publishes a value for this row."""
        return any(cell.study is not None for cell in self.cells.values())


@dataclass(frozen=True)
class ComponentRow:
    """Table 2's row of one run: its seven components (by name) beside the study's."""

    run: str
    model: str
    stage_label: str
    cells: dict[str, Cell]


@dataclass(frozen=True)
class FigureBlock:
    """A figure as a PNG data URI, or the reason it is not drawn."""

    key: str
    title: str
    caption: str
    data_uri: str | None = None
    note: str | None = None
    wide: bool = True
    """Drawn across the page (else half of it: the radar charts)."""


@dataclass(frozen=True)
class Thumbnail:
    """One sample image: a small embedded JPEG, or a note saying why there is none."""

    name: str
    path: str
    data_uri: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class GalleryOutput:
    run: str
    model: str
    stage_label: str
    prediction: str
    green_flare: float | None


@dataclass(frozen=True)
class GallerySample:
    sample_id: str
    study_id: str | None
    question: str
    region: str | None
    reference: str
    thumbnails: list[Thumbnail]
    outputs: list[GalleryOutput]


@dataclass(frozen=True)
class GalleryGroup:
    title: str
    rule: str
    samples: list[GallerySample]
    note: str | None = None
    """Why the group holds no sample (the runs cannot be ranked that way)."""


@dataclass(frozen=True)
class Gallery:
    groups: list[GalleryGroup] = field(default_factory=list)
    split: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class LineageStep:
    stage_label: str
    run: str
    recipe: str
    origin: str
    adapter: str | None


@dataclass(frozen=True)
class RunCard:
    """Everything the report says about one chosen run."""

    model: str
    stage_label: str
    detail: RunDetail

    @property
    def run(self) -> Any:
        return self.detail.run

    @property
    def model_ref(self) -> str:
        run = self.detail.run
        return f"{run.model_id}@{run.model_revision}" if run.model_revision else run.model_id


@dataclass(frozen=True)
class Report:
    """All the report shows, ready for the template."""

    registry_url: str
    generated_at: str
    rrg_version: str
    tags: tuple[str, ...]
    pick: str
    recipes: tuple[str, ...]
    table1: list[Table1Row]
    metrics: tuple[tuple[str, str], ...]
    study_models: tuple[str, ...]
    selection_notes: list[str]
    components: tuple[tuple[str, str], ...]
    component_rows: list[ComponentRow]
    figures: list[FigureBlock]
    gallery: Gallery
    lineage: dict[str, list[LineageStep]]
    runs: list[RunCard]


# ------------------------------------------------------------------------------------- building


def build_report(
    registry: Registry,
    *,
    tags: Sequence[str] = (),
    pick: str = "latest",
    recipes: Sequence[str] = (),
    samples: int = DEFAULT_SAMPLES,
) -> Report:
    """Collect everything the report shows from ``registry``.

    The runs are those of Table 1 (:meth:`Registry.study_choices` with ``tags``, ``pick`` and
    ``recipes``: one per stage and model). ``samples`` is the number of samples in each gallery
    group (0: no gallery). A registry with no succeeded run (carrying every tag) is an
    :class:`~rrg.errors.RrgError`.
    """
    from rrg_registry import study

    from rrg.results.reference import STUDY_COMPONENTS, STUDY_TABLE1

    if samples < 0:
        raise RrgError(f"--samples must be 0 or more, got {samples}", hint="0 leaves the sample gallery out")
    choices = registry.study_choices(tags=list(tags), pick=pick, recipes=list(recipes), model_name=model_name)
    chosen = [c for c in choices if c.run is not None]
    if not chosen:
        raise _nothing_to_report(registry, tags)
    runs = [c.run for c in chosen]
    names = {run.id: model_name(run.model_family, run.model_id) for run in runs}
    details = {run.id: registry.get_run(run.id) for run in runs}

    table1 = []
    for run in runs:
        study_values = STUDY_TABLE1.get((run.stage, names[run.id]), {})
        table1.append(
            Table1Row(
                stage=run.stage,
                stage_label=stage_name(run.stage),
                model=names[run.id],
                run=run.id,
                recipe=run.recipe,
                cells={name: Cell(run.metrics.get(name), study_values.get(name)) for name, _ in METRICS},
            )
        )

    components = registry.latest_components([run.id for run in runs])
    with_components = sorted(
        (run for run in runs if run.id in components), key=lambda r: (_model_rank(names[r.id]), _stage_rank(r.stage))
    )
    component_rows = [
        ComponentRow(
            r.id,
            names[r.id],
            stage_name(r.stage),
            {
                name: Cell(getattr(components[r.id], name), STUDY_COMPONENTS.get((r.stage, names[r.id]), {}).get(name))
                for name in COMPONENT_LABELS
            },
        )
        for r in with_components
    ]

    with_predictions = [run.id for run in runs if details[run.id].prediction_counts]
    figures = _figures(registry, runs, names, details, components, with_predictions, tags, pick, recipes)
    gallery = _gallery(registry, with_predictions, samples)
    lineage = _lineage(runs, names, details)
    cards = [RunCard(names[run.id], stage_name(run.stage), details[run.id]) for run in runs]
    return Report(
        registry_url=registry.url,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        rrg_version=_rrg_version(),
        tags=tuple(tags),
        pick=pick,
        recipes=tuple(recipes),
        table1=table1,
        metrics=METRICS,
        study_models=STUDY_ORDER,
        selection_notes=study.selection_notes(choices),
        components=tuple(COMPONENT_LABELS.items()),
        component_rows=component_rows,
        figures=figures,
        gallery=gallery,
        lineage=lineage,
        runs=cards,
    )


def _nothing_to_report(registry: Registry, tags: Sequence[str]) -> RrgError:
    if tags:
        carried = f"tag {tags[0]}" if len(tags) == 1 else f"all of the tags {', '.join(tags)}"
        return RrgError(
            f"no succeeded run in registry {registry.url} carries {carried}",
            hint="see the runs and their tags with `rrg runs list`, or leave --tag out",
        )
    return RrgError(
        f"registry {registry.url} holds no succeeded run to report on",
        hint="record one first, e.g. `rrg run recipes/demo/zero-shot.yaml`, or point --registry at another registry",
    )


def _model_rank(model: str) -> tuple[int, str]:
    return (STUDY_ORDER.index(model), "") if model in STUDY_ORDER else (len(STUDY_ORDER), model)


def _stage_rank(stage: str) -> tuple[int, str]:
    from rrg_registry.study import STAGE_ORDER

    return (STAGE_ORDER.index(stage), "") if stage in STAGE_ORDER else (len(STAGE_ORDER), stage)


def _rrg_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rrg-sdk")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


# -------------------------------------------------------------------------------------- figures


def _figures(
    registry: Registry,
    runs: Sequence[Any],
    names: dict[str, str],
    details: dict[str, RunDetail],
    components: dict[str, Any],
    with_predictions: Sequence[str],
    tags: Sequence[str],
    pick: str,
    recipes: Sequence[str],
) -> list[FigureBlock]:
    from rrg.results import plots
    from rrg.results.reference import STUDY_TABLE1

    published = any((run.stage, names[run.id]) in STUDY_TABLE1 for run in runs)
    ordered = sorted(runs, key=lambda r: (_model_rank(names[r.id]), _stage_rank(r.stage)))
    scored = [r.id for r in ordered if r.id in with_predictions]
    trained = [r.id for r in ordered if r.stage != "zero_shot" and any(m.startswith("train/") for m in details[r.id].metrics)]
    blocks = [
        _figure(
            "study-green",
            "green_flare before and after fine-tuning",
            "green_flare of each model's zero-shot run and of its fine-tuned runs, from the runs in Table 1"
            + ("; the study's published values are marked on the bars" if published else "")
            + ". The dashed line is the 0.8 level the study calls clinically acceptable.",
            lambda: plots.study_green(registry, tags=tuple(tags), pick=pick, recipes=tuple(recipes), reference=published),
        ),
        _figure(
            "components-box",
            "green_flare components per sample",
            "Distribution over the evaluation samples of each of the seven green_flare components, per model and "
            "stage (box: quartiles; line: median).",
            (lambda: plots.components_box(registry, scored)) if scored else None,
            "no run in Table 1 stored per-sample predictions",
        ),
    ]
    by_model: dict[str, list[str]] = {}
    for run in ordered:
        if run.id in components:
            by_model.setdefault(names[run.id], []).append(run.id)
    for model, run_ids in by_model.items():
        blocks.append(
            _figure(
                "radar-" + _slug(model),
                f"Components of {model}",
                f"The seven green_flare components of {model}'s runs in Table 1 "
                f"({', '.join(stage_name(_stage_of(runs, r)) for r in run_ids)}).",
                lambda run_ids=run_ids: plots.components_radar(registry, run_ids, width=RADAR_WIDTH),
                wide=False,
            )
        )
    blocks.append(
        _figure(
            "curves",
            "Training curves",
            "Training loss, validation loss and (GRPO) rewards logged by the fine-tuned runs in Table 1, by step.",
            (lambda: plots.curves(registry, trained)) if trained else None,
            "no run in Table 1 logged training curves",
        )
    )
    blocks.append(
        _figure(
            "breakdown",
            "green_flare by anatomical region",
            "Mean per-sample green_flare of each run, by the region of the report its questions ask for.",
            (lambda: plots.breakdown(registry, scored)) if scored else None,
            "no run in Table 1 stored per-sample predictions",
        )
    )
    return blocks


def _slug(text: str) -> str:
    """``Qwen2.5-VL (tiny)`` → ``qwen2-5-vl-tiny`` (for element ids)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "model"


def _stage_of(runs: Sequence[Any], run_id: str) -> str:
    return next(r.stage for r in runs if r.id == run_id)


def _figure(key: str, title: str, caption: str, draw: Any, missing: str = "", wide: bool = True) -> FigureBlock:
    """Draw one figure. One the registry cannot give (its runs lack what the figure plots: the
    plotting functions say so with a user error) is replaced by a note saying why."""
    from rrg_registry.errors import UserError

    from rrg.results.plots import png_bytes

    if draw is None:
        return FigureBlock(key, title, caption, note=missing, wide=wide)
    try:
        figure = draw()
    except UserError as error:
        return FigureBlock(key, title, caption, note=error.format_message(), wide=wide)
    return FigureBlock(key, title, caption, data_uri=_data_uri("image/png", png_bytes(figure, dpi=FIGURE_DPI)), wide=wide)


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# -------------------------------------------------------------------------------------- gallery


def _gallery(registry: Registry, run_ids: Sequence[str], per_group: int) -> Gallery:
    from rrg_registry.errors import UserError

    from rrg.results.regions import question_region
    from rrg.results.samples import side_by_side

    if per_group == 0:
        return Gallery(note="left out (--samples 0)")
    if not run_ids:
        return Gallery(note="no run in Table 1 stored per-sample predictions")
    thumbnails: dict[str, Thumbnail] = {}
    shown: set[str] = set()
    groups = []
    split = None
    for keyword, title, rule in GALLERY_GROUPS:
        if keyword == "disagree" and len(run_ids) < 2:
            continue  # one run disagrees with nobody
        try:
            # ask for as many more as were shown already, so a sample in two groups is shown once
            table = side_by_side(registry, run_ids, **{keyword: per_group + len(shown)})
        except UserError as error:  # e.g. the runs share no split or sample: said in the report
            groups.append(GalleryGroup(title, rule, [], note=error.format_message()))
            continue
        columns = table.runs
        picked = []
        for row in table.rows:
            if row.sample_id in shown or len(picked) == per_group:
                continue
            shown.add(row.sample_id)
            picked.append(
                GallerySample(
                    sample_id=row.sample_id,
                    study_id=row.study_id,
                    question=row.question or "",
                    region=question_region(row.question) if row.question else None,
                    reference=row.reference or "",
                    thumbnails=[_thumbnail(path, thumbnails) for path in row.image_paths],
                    outputs=[
                        GalleryOutput(
                            run=column.run_id,
                            model=column.model,
                            stage_label=stage_name(column.stage),
                            prediction=output.prediction,
                            green_flare=output.green_flare,
                        )
                        for column, output in zip(columns, row.outputs)
                    ],
                )
            )
        split = table.split
        groups.append(GalleryGroup(title, rule, picked))
    notes = {group.note for group in groups}
    if len(notes) == 1 and None not in notes:  # every group failed for one reason: say it once
        return Gallery(note=notes.pop())
    return Gallery(groups=groups, split=split)


def _thumbnail(path: str, made: dict[str, Thumbnail]) -> Thumbnail:
    """A small JPEG of the image at ``path`` (made once per path), or a note when the file is
    missing or is no image PIL can read."""
    if path in made:
        return made[path]
    from PIL import Image, UnidentifiedImageError

    name = Path(path).name or path
    file = Path(path)
    if not file.is_file():
        thumb = Thumbnail(name, path, note="image file not found")
    else:
        try:
            with Image.open(file) as image:
                image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                buffer = io.BytesIO()
                _eight_bit(image).save(buffer, format="JPEG", quality=80)
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as error:
            thumb = Thumbnail(name, path, note=f"image could not be read ({type(error).__name__})")
        else:
            thumb = Thumbnail(name, path, data_uri=_data_uri("image/jpeg", buffer.getvalue()))
    made[path] = thumb
    return thumb


def _eight_bit(image: Any) -> Any:
    """The image as 8-bit grey or RGB for a JPEG. 16-bit and float radiographs (modes ``I``,
    ``I;16``, ``F``) are stretched from their darkest to their brightest pixel, not clipped."""
    from PIL import Image

    if image.mode in ("1", "L", "RGB"):
        return image.convert("L" if image.mode == "1" else image.mode)
    if image.mode.startswith(("I", "F")):
        import numpy as np

        pixels = np.asarray(image, dtype=np.float64)
        low, high = float(pixels.min()), float(pixels.max())
        scaled = (pixels - low) * (255.0 / (high - low)) if high > low else np.zeros_like(pixels)
        return Image.fromarray(scaled.round().astype(np.uint8), mode="L")
    return image.convert("RGB")


# -------------------------------------------------------------------------------------- lineage


def _lineage(runs: Sequence[Any], names: dict[str, str], details: dict[str, RunDetail]) -> dict[str, list[LineageStep]]:
    """Per model (study order), its runs by stage, each with what it started from."""
    chosen = {run.id for run in runs}
    lineage: dict[str, list[LineageStep]] = {}
    for run in sorted(runs, key=lambda r: (_model_rank(names[r.id]), _stage_rank(r.stage))):
        detail = details[run.id]
        record = detail.run
        if detail.parent is not None:
            parent = detail.parent
            where = "" if parent.id in chosen else ", not in Table 1"
            origin = f"run {parent.id} ({stage_name(parent.stage)}, {parent.recipe}{where})"
        elif record.adapter:
            origin = f"adapter {record.adapter}"
        else:
            revision = f"@{record.model_revision}" if record.model_revision else ""
            origin = f"base model {record.model_id}{revision}"
        lineage.setdefault(names[run.id], []).append(
            LineageStep(stage_name(run.stage), run.id, run.recipe, origin, record.adapter)
        )
    return lineage


# -------------------------------------------------------------------------------------- rendering


def _number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:+.{digits}f}"


def render_report(report: Report) -> str:
    """The page's HTML (autoescaped; ``StrictUndefined``, so a value the template names must exist)."""
    from importlib.resources import files

    import jinja2

    template_text = (files("rrg") / "assets" / TEMPLATE).read_text(encoding="utf-8")
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["num"] = _number
    environment.filters["signed"] = _signed
    return environment.from_string(template_text).render(report=report)


def write_report(
    registry: Registry,
    output: str | os.PathLike[str],
    *,
    tags: Sequence[str] = (),
    pick: str = "latest",
    recipes: Sequence[str] = (),
    samples: int = DEFAULT_SAMPLES,
) -> Report:
    """Build the report (:func:`build_report`), render it and write it to ``output`` atomically:
    nothing is written until the page is complete, then a temporary file in the same folder is
    renamed over ``output``. Returns what was written."""
    target = Path(output)
    if target.is_dir():
        raise RrgError(f"cannot write the report to {target}: it is a folder", hint="give a file name, e.g. -o report.html")
    folder = target.parent
    if not folder.is_dir():
        raise RrgError(f"cannot write the report to {target}: folder {folder} does not exist", hint="create it first")
    report = build_report(registry, tags=tags, pick=pick, recipes=recipes, samples=samples)
    html = render_report(report)
    write_atomically(target, html.encode("utf-8"))
    return report


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file in the same folder and a rename; on
    any error the temporary file is removed and ``target`` is left as it was."""
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        raise RrgError(
            f"cannot write the report to {target}: {error.strerror}", hint="choose a folder you can write to"
        ) from error
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's file is private; a report is not
        os.replace(temporary, target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise RrgError(f"cannot write the report to {target}: {error.strerror}", hint="check the path and free space") from error
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
