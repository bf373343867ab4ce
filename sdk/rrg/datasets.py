"""Registered datasets: a name and a version standing for fingerprinted FLARE splits.

A lab names the data it shares (``flare-iu-xray@2``) instead of passing folders around::

    import rrg.datasets

    version, created = rrg.datasets.register("flare-iu-xray", "/data/organized_dataset", flare_datasets=["IU_XRay"])
    rrg.datasets.get("flare-iu-xray@latest").splits      # counts, task types, fingerprints
    rrg.datasets.list()                                  # every registered version

Registering reads every split of the chosen FLARE data sets with :func:`rrg.data.flare.load_flare`
(all samples, every task type, samples with unreadable images skipped and counted) and records
each split's fingerprint, the one a run reading the whole split records. The same content again
is the same version (nothing new); changed content under the same name is the next version.

A recipe names a version with ``data: {dataset: NAME@VERSION}`` (or ``NAME@latest``, and
``NAME@VERSION/FLARE_FOLDER`` when the version holds several FLARE data sets with report
questions): :func:`resolve` gives the plan its root, FLARE data set and category, and
:func:`require_registered_content` refuses a run whose files no longer have the registered
fingerprints. The bundled demo set is registered as :data:`DEMO_NAME` on first use
(:func:`demo_version`).
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrg.errors import RrgError

if TYPE_CHECKING:  # pragma: no cover
    from rrg_registry import DatasetSplit, DatasetVersion, Registry

DEMO_NAME = "demo-iu-xray"
"""The name the bundled demo set is registered under on first use."""

DEMO_DESCRIPTION = "rrg's bundled demo set: IU X-ray report text with synthetic images, FLARE layout"
DEMO_LICENSE = "CC BY-NC-ND 4.0 (IU X-ray reports)"

_REF = re.compile(
    r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,99})@(?P<version>[0-9]+|latest)(?:/(?P<flare>[A-Za-z0-9][A-Za-z0-9._-]*))?"
)
DATASET_REF_HINT = "write NAME@VERSION or NAME@latest (e.g. flare-iu-xray@2), optionally /FLARE_FOLDER (flare-iu-xray@2/IU_XRay)"


@dataclass(frozen=True)
class DatasetRef:
    """A reference to a registered dataset: ``name@version`` (``version`` None: latest), with an
    optional FLARE data set folder of that version."""

    name: str
    version: int | None
    flare_dataset: str | None = None

    def __str__(self) -> str:
        text = f"{self.name}@{'latest' if self.version is None else self.version}"
        return f"{text}/{self.flare_dataset}" if self.flare_dataset else text


def is_dataset_ref(text: str | None) -> bool:
    """Whether ``data.dataset`` names a registered dataset (a FLARE folder name never holds ``@``)."""
    return text is not None and "@" in text


def parse_dataset_ref(text: str, *, version_optional: bool = False) -> DatasetRef:
    """``NAME@VERSION``, ``NAME@latest`` (and ``/FLARE_FOLDER`` after either) as a :class:`DatasetRef`;
    with ``version_optional``, a bare ``NAME`` means its latest version. ValueError (one line) otherwise."""
    text = text.strip()
    if version_optional and "@" not in text:
        text = f"{text}@latest"
    match = _REF.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a registered dataset reference")
    version = match["version"]
    return DatasetRef(match["name"], None if version == "latest" else int(version), match["flare"])


def _registry(registry: Registry | None) -> Registry:
    if registry is not None:
        return registry
    from rrg_registry import Registry

    return Registry.default()


def local_root(root: str | Path) -> Path:
    """The FLARE ``organized_dataset`` folder ``root`` names: a path, ``file://`` URL or ``demo``
    (the bundled demo set, built on first use); a folder holding ``organized_dataset`` is taken for it."""
    from rrg.data.layout import SPLITS

    text = str(root)
    if text == "demo":
        from rrg.data.demo import build_demo

        return build_demo()
    if text.startswith("file://"):
        text = text[len("file://"):]
    elif "://" in text:
        raise RrgError(
            f"dataset root {text}: rrg reads FLARE data from a local folder, and this is a {text.split('://')[0]}:// URL",
            hint="mount or copy the data to a local folder (or give it as file:///PATH) and register that",
        )
    path = Path(text).expanduser()
    if not path.is_dir():
        raise RrgError(f"dataset root {path}: no such folder", hint="give the FLARE organized_dataset folder")
    if (path / "organized_dataset").is_dir() and not any((path / s).is_dir() for s in SPLITS):
        path = path / "organized_dataset"
    return path.resolve()


def split_content(root: Path, flare_dataset: str, split: str, category: str) -> DatasetSplit:
    """One FLARE split read in full (every sample and task type; samples with image problems
    skipped, at the default pixel limit) as a registry :class:`~rrg_registry.DatasetSplit`."""
    from rrg_registry import DatasetSplit

    from rrg.data.flare import load_flare

    read = load_flare(root, flare_dataset, split, category, image_policy="skip")
    return DatasetSplit(
        flare_dataset=flare_dataset, category=category, split=read.split, count=read.size,
        task_types=tuple(sorted(read.task_types)), fingerprint=read.fingerprint,
    )


def scan(
    root: str | Path,
    *,
    flare_datasets: builtins.list[str] | tuple[str, ...] = (),
    splits: builtins.list[str] | tuple[str, ...] = (),
    categories: builtins.list[str] | tuple[str, ...] = (),
) -> builtins.list[DatasetSplit]:
    """Every ``<split>/<category>/<flare_dataset>`` under ``root`` (only those named, when names
    are given), each read and fingerprinted by :func:`split_content`. A name that matches nothing
    is an error listing what the folder holds."""
    from rrg.data.layout import SPLIT_ALIASES, find_datasets

    base = local_root(root)
    found = [entry.split("/") for entry in find_datasets(base)]
    wanted_splits = {SPLIT_ALIASES.get(s, s) for s in splits}
    for kind, names, index in (("FLARE data set", flare_datasets, 2), ("split", wanted_splits, 0), ("category", categories, 1)):
        missing = sorted(set(names) - {parts[index] for parts in found})
        if missing:
            present = sorted({parts[index] for parts in found})
            raise RrgError(
                f"dataset root {base}: no {kind} {', '.join(missing)}",
                hint=f"it holds: {', '.join(present) or 'no <split>/<category>/<dataset> folders'}",
            )
    chosen = [
        (split, category, name)
        for split, category, name in found
        if (not flare_datasets or name in flare_datasets)
        and (not wanted_splits or split in wanted_splits)
        and (not categories or category in categories)
    ]
    if not chosen:
        raise RrgError(f"dataset root {base}: no FLARE split to register", hint="point ROOT at a FLARE organized_dataset folder")
    return [split_content(base, name, split, category) for split, category, name in chosen]


def register(
    name: str,
    root: str | Path,
    *,
    flare_datasets: builtins.list[str] | tuple[str, ...] = (),
    splits: builtins.list[str] | tuple[str, ...] = (),
    categories: builtins.list[str] | tuple[str, ...] = (),
    description: str | None = None,
    license: str | None = None,
    credentialed: bool = False,
    registry: Registry | None = None,
) -> tuple[DatasetVersion, bool]:
    """Read and fingerprint the FLARE splits under ``root`` (see :func:`scan`) and register them as
    ``name``: returns (the version, True when it is new). The same content as a registered version
    of ``name`` is that version; other content is the next version."""
    from rrg_registry.store.sql_store import check_name

    check_name("dataset", name)  # before reading any data
    base = local_root(root)
    content = scan(base, flare_datasets=flare_datasets, splits=splits, categories=categories)
    return _registry(registry).register_dataset_version(
        name, str(base), content, description=description, license=license, credentialed=credentialed
    )


def parse_version_ref(ref: str) -> DatasetRef:
    """``NAME@VERSION``, ``NAME@latest`` or ``NAME`` (latest) as a :class:`DatasetRef`; a malformed
    reference is an :class:`RrgError` (one line, with how to write one)."""
    try:
        return parse_dataset_ref(ref, version_optional=True)
    except ValueError as exc:
        raise RrgError(str(exc), hint=DATASET_REF_HINT) from None


def get(ref: str, *, registry: Registry | None = None) -> DatasetVersion:
    """The registered version ``NAME@VERSION``, ``NAME@latest`` or ``NAME`` (latest)."""
    parsed = parse_version_ref(ref)
    return _registry(registry).get_dataset_version(parsed.name, parsed.version)


def list(name: str | None = None, *, registry: Registry | None = None) -> builtins.list[DatasetVersion]:  # noqa: A001 - the SDK's verb
    """Every registered dataset version (of ``name``), by name and version."""
    return _registry(registry).list_dataset_versions(name)


@dataclass(frozen=True)
class ResolvedDataset:
    """What ``data.dataset: NAME@VERSION`` resolves to for a plan. ``version`` is None only for the
    demo set not registered yet (``demo-iu-xray@latest`` planned before any run registered it)."""

    version: DatasetVersion | None
    flare_dataset: str
    category: str
    root: str


def resolve(text: str, registry: Any, *, category: str, eval_split: str, where: Any) -> ResolvedDataset:
    """The registered version ``text`` names and the FLARE data set it evaluates on: the one named
    after ``/``, else the version's only FLARE data set (of ``category``) with report questions in
    ``eval_split``. ``registry`` is anything with ``get_dataset_version``. Errors name ``where``."""
    from rrg.data.flare import REPORT_GENERATION
    from rrg.data.layout import SPLIT_ALIASES
    from rrg.data.tasks import same_task_type

    ref = parse_dataset_ref(text)
    from rrg_registry.errors import NotFound, RegistryError

    try:
        if registry is None:
            from rrg_registry import Registry

            registry = Registry.default(create=False)
        version = registry.get_dataset_version(ref.name, ref.version)
    except NotFound as exc:
        if ref.name == DEMO_NAME and ref.version is None:  # registered by the first run that reads it
            from rrg.data.demo import CATEGORY, DATASET, build_demo

            return ResolvedDataset(None, ref.flare_dataset or DATASET, CATEGORY, str(build_demo()))
        raise RrgError(f"{where}: data.dataset {text}: {exc.message}", hint=exc.hint) from None
    except RegistryError as exc:  # the registry's other one-line errors, named after the recipe key
        raise RrgError(f"{where}: data.dataset {text}: {exc.message}", hint=exc.hint) from None
    held = sorted({(s.flare_dataset, s.category) for s in version.splits})
    listed = ", ".join(f"{c}/{d}" for d, c in held)
    if ref.flare_dataset is not None:
        categories = sorted({c for d, c in held if d == ref.flare_dataset})
        if not categories:
            raise RrgError(
                f"{where}: data.dataset {text}: {version.ref} holds no FLARE data set {ref.flare_dataset}",
                hint=f"it holds {listed}",
            )
        chosen_category = category if category in categories else categories[0]
        return ResolvedDataset(version, ref.flare_dataset, chosen_category, version.root)
    split = SPLIT_ALIASES.get(eval_split, eval_split)
    in_category = [d for d, c in held if c == category]
    reporting = [
        d for d in in_category
        if any(same_task_type(t, REPORT_GENERATION) for t in (version.split(d, split, category) or _NO_SPLIT).task_types)
    ]
    candidates = reporting or (in_category if len(in_category) == 1 else [])
    if len(candidates) == 1:
        return ResolvedDataset(version, candidates[0], category, version.root)
    if not candidates:
        raise RrgError(
            f"{where}: data.dataset {text}: {version.ref} has no {category} data set with report questions in split {split}",
            hint=f"it holds {listed}; set data.category / data.eval_split, or name one: {ref}/FLARE_FOLDER",
        )
    raise RrgError(
        f"{where}: data.dataset {text}: {version.ref} holds several data sets with report questions ({', '.join(candidates)})",
        hint=f"name the one to evaluate on: dataset: {ref}/{candidates[0]}",
    )


class _NoSplit:
    task_types: tuple[str, ...] = ()


_NO_SPLIT = _NoSplit()


def require_registered_split(version: DatasetVersion, flare_dataset: str, split: str, category: str, where: Any, key: str) -> None:
    """The version registered ``flare_dataset``/``split``, else an error naming ``where`` and ``key``."""
    from rrg.data.layout import SPLIT_ALIASES

    split = SPLIT_ALIASES.get(split, split)
    if version.split(flare_dataset, split, category) is None:
        held = ", ".join(f"{s.flare_dataset}/{s.split}" for s in version.splits if s.category == category)
        raise RrgError(
            f"{where}: {key}: {version.ref} has no registered split {category}/{flare_dataset}/{split}",
            hint=f"it holds {held or 'nothing in ' + category}; register a version with it "
            f"(rrg datasets register {version.name} {version.root} --dataset {flare_dataset} --splits {split})",
        )


def require_registered_content(
    version: DatasetVersion, reads: builtins.list[tuple[Any, str]], where: Any, root: str | None = None
) -> None:
    """Every split a run read (``(FlareSplit, category)``, read with the recipe's caps and filters)
    under ``root`` (default: the registered root; another one is a copy of the content) still has
    the content registered in ``version``: the read's own fingerprint when it took the whole split,
    else the split read again in full. A change is an error naming the split, both fingerprints and
    the command that registers the new content."""
    root = version.root if root is None else root
    for read, category in reads:
        registered = version.split(read.name, read.split, category)
        if registered is None:
            continue  # refused earlier by require_registered_split
        if read.fingerprint == registered.fingerprint:
            continue
        now = split_content(local_root(root), read.name, read.split, category).fingerprint
        if now != registered.fingerprint:
            raise RrgError(
                f"{where}: data.dataset {version.ref}: split {category}/{read.name}/{read.split} under {root} "
                f"no longer matches the registered version (registered fingerprint {registered.fingerprint[:12]}, "
                f"now {now[:12]})",
                hint=f"register the new content with `{register_command(version, root)}` "
                f"and use {version.name}@latest, or restore the registered files",
            )


def register_command(version: DatasetVersion, root: str | None = None) -> str:
    """The ``rrg datasets register`` command that registers the same splits of ``version`` again
    (from ``root``, default its registered root)."""
    import shlex

    parts = ["rrg datasets register", version.name, shlex.quote(version.root if root is None else root)]
    parts += [f"--dataset {name}" for name in version.flare_datasets]
    parts += [f"--category {c}" for c in sorted({s.category for s in version.splits})]
    parts.append("--splits " + ",".join(sorted({s.split for s in version.splits})))
    return " ".join(parts)


def demo_version(registry: Registry) -> DatasetVersion:
    """The registered version of the bundled demo set as built here (:data:`DEMO_NAME`), registered
    on first use. A demo built by another rrg version (another folder) is another version."""
    from rrg.data.demo import build_demo

    from rrg.data.layout import find_datasets

    root = build_demo()
    every = sorted(tuple(entry.split("/")) for entry in find_datasets(root))
    for version in reversed(registry.list_dataset_versions(DEMO_NAME)):
        held = sorted((s.split, s.category, s.flare_dataset) for s in version.splits)
        if version.root == str(root) and held == every:
            return version
    return register(DEMO_NAME, root, description=DEMO_DESCRIPTION, license=DEMO_LICENSE, registry=registry)[0]
