"""``rrg datasets list`` and ``rrg datasets show`` read through
:class:`rrg_registry.read.RegistryReader` and print exactly what they printed when they read
through :class:`rrg_registry.Registry` (table, ``--json``, ``--csv``, and the one-line errors),
on SQLite and on PostgreSQL.

The commands as they were, on the registry's entities, are kept here (:data:`registry_datasets`)
as the reference the reader-based commands are held to.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from rrg.cli import cli
from rrg.cli.output import emit_mapping, emit_rows, output_options
from rrg.cli.registry_option import existing_registry_option
from rrg_registry import DatasetSplit, NotFound, Registry
from rrg_registry.read import RegistryReader, entity_json

from .conftest import Factory

# -- the commands as they read through the full registry ------------------------------------

LIST_COLUMNS = ("ref", "flare_datasets", "splits", "samples", "license", "credentialed", "root", "created")


def _short_time(value: Any) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%d %H:%M")


@click.group()
def registry_datasets() -> None:
    """``rrg datasets list/show`` on :class:`Registry` entities."""


@registry_datasets.command("list")
@click.argument("name", required=False)
@output_options
@existing_registry_option
def registry_list(registry: Any, name: str | None, output_format: str) -> None:
    versions = registry.list_dataset_versions(name)
    rows = [
        {**v.to_row(), "flare_datasets": " ".join(v.flare_datasets), "splits": len(v.splits),
         "created": _short_time(v.created_at)}
        for v in versions
    ]
    if output_format == "table" and not rows:
        click.echo("no registered datasets" + (f" named {name}" if name else "") + " (register one: rrg datasets register NAME ROOT)")
        return
    emit_rows(rows, output_format, columns=LIST_COLUMNS, json_data=[v.to_row() for v in versions])


@registry_datasets.command("show")
@click.argument("ref", metavar="NAME[@VERSION]")
@output_options
@existing_registry_option
def registry_show(registry: Any, ref: str, output_format: str) -> None:
    import rrg.datasets
    from rrg.results.names import model_name, stage_name

    version = rrg.datasets.get(ref, registry=registry)
    runs = registry.runs_of_dataset_version(version.id)
    families = {r.model_id: r.model_family for r in runs}
    best = [
        {"model": model_name(families.get(model_id, ""), model_id), "model_id": model_id, "stage": stage_name(stage),
         "green_flare": value, "run": run_id}
        for model_id, stage, value, run_id in registry.best_by_model_on_dataset_version(version.id)
    ]
    if output_format == "json":
        emit_mapping({**version.to_row(), "runs": [r.to_row() for r in runs], "best": best}, "json")
        return
    head = {k: v for k, v in version.to_row().items() if k not in ("splits", "flare_datasets")}
    head["created"] = _short_time(version.created_at)
    emit_mapping(head, output_format, title=f"dataset {version.ref}")
    if output_format != "table":
        return
    emit_rows(
        [{**s.model_dump(), "task_types": ", ".join(s.task_types), "fingerprint": s.fingerprint[:12]} for s in version.splits],
        "table", columns=("flare_dataset", "category", "split", "count", "task_types", "fingerprint"), title="splits",
    )
    if best:
        emit_rows(best, "table", columns=("model", "stage", "green_flare", "run"), title="best green_flare per model")
    if runs:
        emit_rows(
            [{"id": r.id, "recipe": r.recipe, "stage": r.stage, "model": r.model_id, "status": r.status.value,
              "green_flare": r.metrics.get("green_flare"), "created": _short_time(r.created_at)} for r in runs],
            "table", columns=("id", "recipe", "stage", "model", "status", "green_flare", "created"), title="runs",
        )
    else:
        click.echo("no run has read this version yet")


# -- a registry with datasets and runs that read them -----------------------------------------


def _split(dataset: str, split: str, count: int, fingerprint: str, tasks: tuple[str, ...] = ("Report_Generation",)):
    return DatasetSplit(flare_dataset=dataset, category="Xray", split=split, count=count, task_types=tasks,
                        fingerprint=fingerprint)


def _fill(registry: Registry) -> dict[str, Any]:
    """Two names: ``flare-iu-xray`` in three versions (the last with two FLARE data sets whose
    code-point order is not a collation's) and ``mimic`` in one; runs of two models and three
    stages reading ``flare-iu-xray@2`` (a failed one scoring highest, which is no one's best; one
    without green_flare), one reading ``mimic@1``."""
    factory = Factory(registry)
    iu = [
        registry.register_dataset_version(
            "flare-iu-xray", "/data/iu", [_split("IU_XRay", "training", 100 + i, f"{i}" * 64),
                                          _split("IU_XRay", "validation-public", 20, "a" * 64)],
            license="CC BY-NC-ND 4.0", description="IU X-ray reports",
        )[0]
        for i in range(2)
    ]
    iu.append(registry.register_dataset_version(
        "flare-iu-xray", "/data/iu", [_split("chexpert", "validation-public", 7, "c" * 64, ("Report_Generation", "VQA")),
                                      _split("IU_XRay", "training", 103, "3" * 64)],
    )[0])
    mimic, _ = registry.register_dataset_version("mimic", "/data/m", [_split("MIMIC", "training", 500, "m" * 64)],
                                                 credentialed=True, description="MIMIC-CXR")
    read = iu[1].id
    runs = [
        factory.run(recipe="zs@1", stage="zero_shot", status="succeeded", metrics={"green_flare": 0.41, "ce": 0.7},
                    dataset_version_id=read),
        factory.run(recipe="sft@1", status="succeeded", metrics={"green_flare": 0.62, "bleu4_flare": 0.05},
                    dataset_version_id=read),
        factory.run(recipe="sft@2", status="succeeded", metrics={"green_flare": 0.68}, dataset_version_id=read,
                    tags=["paper"]),
        factory.run(recipe="sft@2", status="failed", metrics={"green_flare": 0.99}, dataset_version_id=read),
        factory.run(recipe="grpo@1", stage="grpo", model_family="medgemma", model_id="google/medgemma-4b-it",
                    status="succeeded", metrics={"green_flare": 0.7}, dataset_version_id=read),
        factory.run(recipe="sft@1", model_family="medgemma", model_id="google/medgemma-4b-it", status="succeeded",
                    metrics={"ce": 0.9}, dataset_version_id=read),
        factory.run(recipe="zs@1", stage="zero_shot", status="running", dataset_version_id=mimic.id),
    ]
    return {"iu": iu, "mimic": mimic, "runs": runs}


@pytest.fixture
def filled(registry) -> dict[str, Any]:
    return _fill(registry)


COMMANDS = [
    ["list"],
    ["list", "flare-iu-xray"],
    ["list", "mimic"],
    ["list", "chexpert"],
    ["show", "flare-iu-xray"],
    ["show", "flare-iu-xray@latest"],
    ["show", "flare-iu-xray@2"],
    ["show", "flare-iu-xray@1"],
    ["show", "mimic@1"],
]
FORMATS = [[], ["--json"], ["--csv"]]


def _both(url: str, args: list[str]) -> tuple[Any, Any]:
    """(``rrg datasets ARGS``, the registry-based command with ARGS), each on the registry at ``url``."""
    runner = CliRunner()
    ours = runner.invoke(cli, ["datasets", *args, "--registry", url])
    theirs = runner.invoke(registry_datasets, [*args, "--registry", url])
    return ours, theirs


def _same_output(url: str) -> None:
    for args in COMMANDS:
        for fmt in FORMATS:
            ours, theirs = _both(url, [*args, *fmt])
            assert theirs.exit_code == 0, theirs.output
            assert ours.exit_code == 0, ours.output
            assert ours.output == theirs.output, [*args, *fmt]


def test_the_commands_print_what_the_registry_path_printed(filled, registry_url, empty_database):
    with RegistryReader.open(registry_url) as reader:
        assert reader.light == (empty_database.dialect == "sqlite")
    _same_output(registry_url)


def test_what_the_commands_print_holds_the_registered_content(filled, registry_url):
    """The outputs compared above are not empty or alike: they hold the registry's versions, runs and bests."""
    listed = CliRunner().invoke(cli, ["datasets", "list", "--json", "--registry", registry_url])
    assert [row["ref"] for row in json.loads(listed.output)] == ["flare-iu-xray@1", "flare-iu-xray@2",
                                                                "flare-iu-xray@3", "mimic@1"]
    latest = json.loads(CliRunner().invoke(cli, ["datasets", "show", "flare-iu-xray", "--json",
                                                 "--registry", registry_url]).output)
    assert latest["ref"] == "flare-iu-xray@3" and latest["flare_datasets"] == ["IU_XRay", "chexpert"]
    assert [s["flare_dataset"] for s in latest["splits"]] == ["IU_XRay", "chexpert"]
    assert latest["samples"] == 110 and latest["runs"] == [] and latest["best"] == []
    shown = json.loads(CliRunner().invoke(cli, ["datasets", "show", "flare-iu-xray@2", "--json",
                                                "--registry", registry_url]).output)
    runs = filled["runs"]
    assert [r["id"] for r in shown["runs"]] == [r.id for r in sorted(runs[:6], key=lambda r: r.created_at, reverse=True)]
    assert [(b["model_id"], b["stage"], b["green_flare"], b["run"]) for b in shown["best"]] == [
        ("Qwen/Qwen3-VL-4B-Instruct", "SFT", 0.68, runs[2].id),
        ("Qwen/Qwen3-VL-4B-Instruct", "zero-shot", 0.41, runs[0].id),
        ("google/medgemma-4b-it", "GRPO", 0.7, runs[4].id),
    ]
    table = CliRunner().invoke(cli, ["datasets", "show", "mimic", "--registry", registry_url]).output
    assert "dataset mimic@1" in table and runs[6].id in table and "no run has read" not in table


def test_the_reader_answers_as_the_registry(filled, registry, registry_url):
    with RegistryReader.open(registry_url) as reader:
        for name in (None, "flare-iu-xray", "mimic", "chexpert"):
            assert entity_json(reader.list_dataset_versions(name)) == [
                v.model_dump(mode="json") for v in registry.list_dataset_versions(name)
            ]
        for name, version in (("flare-iu-xray", None), ("flare-iu-xray", 1), ("mimic", None), ("mimic", 1)):
            assert entity_json(reader.get_dataset_version(name, version)) == \
                registry.get_dataset_version(name, version).model_dump(mode="json")
        for version in [*filled["iu"], filled["mimic"]]:
            assert reader.runs_of_dataset_version(version.id) == [
                r.to_row() for r in registry.runs_of_dataset_version(version.id)
            ]
            assert reader.best_by_model_on_dataset_version(version.id) == \
                registry.best_by_model_on_dataset_version(version.id)
        assert reader.best_by_model_on_dataset_version(filled["iu"][1].id, "ce") == \
            registry.best_by_model_on_dataset_version(filled["iu"][1].id, "ce")
        for name, version in (("flare-iu-xray", 9), ("chexpert", None), ("chexpert", 2)):
            with pytest.raises(NotFound) as theirs:
                registry.get_dataset_version(name, version)
            with pytest.raises(NotFound) as ours:
                reader.get_dataset_version(name, version)
            assert str(ours.value) == str(theirs.value)


REF_HINT = ("(hint: write NAME@VERSION or NAME@latest (e.g. flare-iu-xray@2), optionally /FLARE_FOLDER "
            "(flare-iu-xray@2/IU_XRay))")


@pytest.mark.parametrize(
    ("ref", "line"),
    [
        ("chexpert", ("Error: no dataset named chexpert is registered (hint: registered datasets: flare-iu-xray, "
                      "mimic; or register it with `rrg datasets register NAME ROOT`)")),
        ("flare-iu-xray@9", ("Error: dataset flare-iu-xray has no version 9 "
                             "(hint: registered versions: flare-iu-xray@1, flare-iu-xray@2, flare-iu-xray@3)")),
        ("mimic@latest/MIMIC@2", f"Error: 'mimic@latest/MIMIC@2' is not a registered dataset reference {REF_HINT}"),
        ("flare-iu-xray@two", f"Error: 'flare-iu-xray@two' is not a registered dataset reference {REF_HINT}"),
    ],
)
def test_errors_are_the_same_one_line(filled, registry_url, ref, line):
    for fmt in FORMATS:
        ours, theirs = _both(registry_url, ["show", ref, *fmt])
        assert (ours.exit_code, ours.output) == (theirs.exit_code, theirs.output) == (2, line + "\n")


def test_an_empty_registry_and_a_missing_one(registry_url, tmp_path):
    for fmt in FORMATS:
        ours, theirs = _both(registry_url, ["list", *fmt])
        assert ours.exit_code == 0 and ours.output == theirs.output
    assert _both(registry_url, ["list"])[0].output == (
        "no registered datasets (register one: rrg datasets register NAME ROOT)\n"
    )
    ours, theirs = _both(registry_url, ["show", "mimic"])
    assert (ours.exit_code, ours.output) == (theirs.exit_code, theirs.output) == (
        2, "Error: no dataset named mimic is registered (hint: register it with `rrg datasets register NAME ROOT`)\n"
    )
    missing = tmp_path / "none.db"
    for args in (["list"], ["show", "mimic"]):
        ours, theirs = _both(str(missing), args)
        assert (ours.exit_code, ours.output) == (theirs.exit_code, theirs.output)
        assert ours.exit_code == 2 and ours.output.startswith(f"Error: no registry at {missing} ")
    assert not missing.exists()


def test_a_sqlite_file_read_the_full_way_prints_the_same(tmp_path, migrated_sqlite_template):
    path = tmp_path / "registry.db"
    shutil.copyfile(migrated_sqlite_template, path)
    with Registry.from_url(str(path)) as registry:
        _fill(registry)
    url = f"sqlite:///file:{Path(path)}?mode=ro&uri=true"
    with RegistryReader.open(url) as reader:
        assert not reader.light
    _same_output(url)
