"""The browsing CLI through the real entry point: rrg runs list/show/reap, compare, table,
components, db. Outputs are checked exactly where scripts depend on them (JSON keys, CSV)."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from rrg.cli import cli
from rrg_registry import Registry
from rrg_registry.store import schema

from .conftest import COMPONENTS, hours_ago

RUN_KEYS = ["id", "recipe", "stage", "model", "model_id", "adapter", "status", "tags", "parent",
            "created", "started", "ended", "metrics"]


def rrg(url: str, *args: str):
    """Invoke ``rrg ARGS --registry URL`` in-process (tables 200 columns wide); returns the click result."""
    return CliRunner().invoke(cli, [*args, "--registry", url], catch_exceptions=False, env={"COLUMNS": "200"})


def scores(base: float, count: int = 40):
    return [base + 0.01 * (i % 7) for i in range(count)]


@pytest.fixture
def filled(registry, factory, registry_url, clock):
    """Three succeeded evaluations (zero-shot and SFT Qwen3-VL, SFT DeepSeek-OCR) and a failed run."""
    runs = {}
    specs = [
        ("zs", "zero_shot", "qwen3_vl", "Qwen/Qwen3-VL-4B-Instruct", 0.695, 0.327, 0.5),
        ("sft", "sft", "qwen3_vl", "Qwen/Qwen3-VL-4B-Instruct", 0.769, 0.843, 0.7),
        ("ocr", "sft", "deepseek_ocr", "deepseek-ai/DeepSeek-OCR", 0.846, 0.957, 0.8),
    ]
    for i, (key, stage, family, model_id, green, ce, base) in enumerate(specs):
        clock(hours_ago(0.1 * (3 - i)))
        run = factory.run(recipe=f"{key}@1", stage=stage, model_family=family, model_id=model_id, status="running",
                          tags=["paper"])
        predictions = [{"sample_id": f"s{j:03d}", "prediction": "x", "reference": "y", "green_flare": s}
                       for j, s in enumerate(scores(base))]
        registry.record_evaluation(run.id, "validation", {"green_flare": green, "bleu4_flare": 0.05, "ce": ce},
                                   components={**COMPONENTS, "entity_matching": green}, predictions=predictions,
                                   status="succeeded")
        runs[key] = run
    clock(None)
    runs["failed"] = factory.run(recipe="sft@1", stage="sft", model_family="medgemma", status="failed",
                                 parent_run_id=runs["sft"].id)
    return registry_url, runs


def test_runs_list_json(filled):
    url, runs = filled
    result = rrg(url, "runs", "list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [row["id"] for row in data] == [runs[k].id for k in ("failed", "ocr", "sft", "zs")]
    assert all(list(row) == RUN_KEYS for row in data)
    ocr = data[1]
    assert (ocr["recipe"], ocr["stage"], ocr["model"], ocr["status"], ocr["tags"]) == (
        "ocr@1", "sft", "deepseek_ocr", "succeeded", ["paper"])
    assert ocr["metrics"] == {"bleu4_flare": 0.05, "ce": 0.957, "green_flare": 0.846}
    assert ocr["created"].endswith("+00:00") and ocr["ended"] is not None
    assert data[0]["parent"] == runs["sft"].id and data[0]["metrics"] == {}


def test_runs_list_filters_where_sort(filled):
    url, runs = filled
    ids = lambda *args: [r["id"] for r in json.loads(rrg(url, "runs", "list", "--json", *args).output)]  # noqa: E731
    assert ids("--sort", "green_flare") == [runs[k].id for k in ("ocr", "sft", "zs", "failed")]
    assert ids("--sort", "green_flare", "--asc", "--limit", "2") == [runs["zs"].id, runs["sft"].id]
    assert ids("--where", "green_flare>0.7") == [runs["ocr"].id, runs["sft"].id]
    assert ids("--where", "green_flare>0.7", "--where", "ce>=0.9") == [runs["ocr"].id]
    assert ids("--stage", "sft", "--model", "qwen3_vl") == [runs["sft"].id]
    assert ids("--stage", "sft", "--status", "succeeded") == [runs["ocr"].id, runs["sft"].id]
    assert ids("--model", "medgemma") == [runs["failed"].id]
    assert ids("--recipe", "zs@1") == [runs["zs"].id]
    assert ids("--tag", "paper", "--sort", "ce", "--limit", "1") == [runs["ocr"].id]
    assert ids("--status", "running") == []


def test_runs_list_csv(filled):
    url, runs = filled
    result = rrg(url, "runs", "list", "--csv", "--sort", "green_flare", "--limit", "2")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert list(rows[0]) == ["id", "recipe", "stage", "model", "model_id", "adapter", "status", "tags", "parent",
                             "created", "started", "ended", "green_flare", "bleu4_flare", "ce"]
    assert [(r["id"], r["green_flare"], r["ce"], r["tags"]) for r in rows] == [
        (runs["ocr"].id, "0.846", "0.957", "paper"), (runs["sft"].id, "0.769", "0.843", "paper")]


def test_runs_list_table(filled):
    url, runs = filled
    result = rrg(url, "runs", "list", "--format", "table", "--stage", "zero_shot")
    assert result.exit_code == 0
    for text in (runs["zs"].id, "zero_shot", "qwen3_vl", "succeeded", "green_flare", "0.6950", "0.3270"):
        assert text in result.output


def test_runs_list_table_piped_keeps_values_whole(filled):
    """Piped into a file or a CI log (no terminal, 80 columns), rows stay one line each."""
    url, runs = filled
    result = CliRunner().invoke(cli, ["runs", "list", "--registry", url], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) > 80
    for run in runs.values():
        row = next(line for line in lines if run.id in line)
        assert run.recipe in row and run.model_family in row


def test_runs_list_in_a_narrow_terminal_keeps_every_column(filled):
    """A terminal narrower than the table: text folds, and no column is cut off at the edge."""
    url, runs = filled
    result = CliRunner().invoke(cli, ["runs", "list", "--registry", url], env={"COLUMNS": "80", "FORCE_COLOR": "1"})
    assert result.exit_code == 0, result.output
    lines = re.sub(r"\x1b\[[0-9;]*m", "", result.output).splitlines()
    assert lines and all(len(line) <= 80 and line[-1] in "┓┃┩│┘" for line in lines)
    for run in runs.values():
        assert any(run.id in line for line in lines)
    cells = [cell.strip() for cell in next(line for line in lines if runs["ocr"].id in line).split("│")]
    assert cells[1] == runs["ocr"].id and cells[-4:-1] == ["0.8460", "0.0500", "0.9570"]


def test_runs_list_reaps_dead_runs(registry, factory, registry_url, clock):
    clock(hours_ago(1))
    dead = factory.run(status="running")
    clock(None)
    data = json.loads(rrg(registry_url, "runs", "list", "--json").output)
    assert [(r["id"], r["status"]) for r in data] == [(dead.id, "interrupted")]


def test_runs_reap(registry, factory, registry_url, clock):
    clock(hours_ago(1))
    dead = factory.run(status="running")
    clock(None)
    assert rrg(registry_url, "runs", "reap", "--older-than", "90").output == "no stale runs\n"
    assert rrg(registry_url, "runs", "reap", "--older-than", "30").output == f"interrupted {dead.id}\n"


@pytest.mark.parametrize("minutes", ["nan", "inf", "1e10"])
def test_runs_reap_refuses_impossible_ages(registry_url, minutes):
    result = rrg(registry_url, "runs", "reap", "--older-than", minutes)
    assert result.exit_code == 2
    assert "Invalid value for '--older-than'" in result.output


def test_runs_show(filled):
    url, runs = filled
    result = rrg(url, "runs", "show", runs["sft"].id[:6], "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data) == ["run", "recipe", "parent", "children", "datasets", "checkpoints", "metrics",
                          "metric_history", "components", "publications", "prediction_counts", "dataset_version"]
    assert data["run"]["id"] == runs["sft"].id and data["recipe"]["name"] == "sft"
    assert [c["id"] for c in data["children"]] == [runs["failed"].id]
    assert data["metrics"] == {"bleu4_flare": 0.05, "ce": 0.843, "green_flare": 0.769}
    assert data["components"][0]["entity_matching"] == 0.769 and data["prediction_counts"] == {"validation": 40}
    table = rrg(url, "runs", "show", runs["failed"].id).output
    for text in ("lineage", "parent", runs["sft"].id, "status", "failed"):
        assert text in table
    flat = dict(csv.reader(io.StringIO(rrg(url, "runs", "show", runs["ocr"].id, "--csv").output)))
    assert flat["metrics.green_flare"] == "0.846" and flat["recipe"] == "ocr@1"


def test_compare(filled):
    url, runs = filled
    result = rrg(url, "compare", runs["sft"].id, runs["ocr"].id, runs["zs"].id, "--json", "--resamples", "2000")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data) == ["runs", "metrics", "paired_tests", "skipped_tests"]
    sft, ocr, zs = runs["sft"].id, runs["ocr"].id, runs["zs"].id
    assert data["metrics"][0]["metric"] == "green_flare"
    assert data["metrics"][0][f"{ocr}-{sft}"] == pytest.approx(0.846 - 0.769)
    better, worse = data["paired_tests"]
    assert (better["run_id"], better["baseline_run_id"], better["n"]) == (ocr, sft, 40)
    assert better["mean_difference"] == pytest.approx(0.1) and better["p_value"] == pytest.approx(1 / 2001)
    assert worse["mean_difference"] == pytest.approx(-0.2) and worse["ci_high"] < 0
    table = rrg(url, "compare", sft, ocr).output
    assert "paired bootstrap" in table and "1e-04" in table  # p = 1/10001: scientific, not 0.0001
    header = rrg(url, "compare", sft, ocr, "--csv").output.splitlines()[0]
    assert header == f"metric,{sft},{ocr},{ocr}-{sft}"


def test_compare_identical_samples_gives_p_one(registry, factory, registry_url):
    ids = []
    for _ in range(2):
        run = factory.run(status="running")
        registry.log_predictions(run.id, "validation",
                                 [{"sample_id": str(i), "prediction": "x", "green_flare": s} for i, s in enumerate(scores(0.5))])
        ids.append(run.id)
    data = json.loads(rrg(registry_url, "compare", *ids, "--json").output)
    assert data["paired_tests"][0]["p_value"] == 1.0


def test_study_table_and_components(filled):
    url, runs = filled
    data = json.loads(rrg(url, "table", "--layout", "study", "--json").output)
    assert data == [
        {"stage": "zero_shot", "model": "Qwen3-VL-4B", "run": runs["zs"].id, "green_flare": 0.695, "bleu4_flare": 0.05,
         "ce": 0.327, "recipe": "zs@1", "passed_over": []},
        {"stage": "sft", "model": "DeepSeek-OCR", "run": runs["ocr"].id, "green_flare": 0.846, "bleu4_flare": 0.05,
         "ce": 0.957, "recipe": "ocr@1", "passed_over": []},
        {"stage": "sft", "model": "Qwen3-VL-4B", "run": runs["sft"].id, "green_flare": 0.769, "bleu4_flare": 0.05,
         "ce": 0.843, "recipe": "sft@1", "passed_over": []},
    ]
    assert rrg(url, "table", "--csv").output.splitlines()[0] == "stage,model,recipe,run,green_flare,bleu4_flare,ce"
    components = rrg(url, "components", "--csv").output.splitlines()
    assert components[0] == "component,DeepSeek-OCR/sft,Qwen3-VL-4B/zero_shot,Qwen3-VL-4B/sft,Qwen3-VL-4B/sft gain"
    assert components[1] == f"entity_matching,0.846,0.695,0.769,{(0.769 - 0.695) / 0.695}"
    assert len(components) == 8
    assert "Table 2" in rrg(url, "components").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["runs", "show", "zzzz"], "Error: no run matches 'zzzz' (hint: list runs with `rrg runs list`)\n"),
        (["runs", "list", "--where", "green_flare>>0.8"],
         "Error: the filter 'green_flare>>0.8' compares green_flare with '>0.8', which is not a number "
         "(hint: metric filters compare with a number, e.g. --where 'green_flare>=0.75')\n"),
        (["runs", "list", "--where", "green_flare"],
         "Error: cannot read the filter 'green_flare' (hint: write METRIC OP NUMBER with OP one of > >= < <= = !=, "
         "e.g. --where 'green_flare>0.8')\n"),
        (["compare", "zzzz", "yyyy"], "Error: no run matches 'zzzz' (hint: list runs with `rrg runs list`)\n"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(registry_url, args, message):
    result = rrg(registry_url, *args)
    assert result.exit_code == 2
    assert result.output == message


def test_unsupported_url_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["runs", "list", "--registry", "mysql://x@y/z"])
    assert result.exit_code == 2
    assert result.output == (
        "Error: the registry URL mysql://x@y/z names a mysql database "
        "(hint: rrg supports sqlite:///PATH and postgresql://USER@HOST/DB)\n"
    )


def test_db_commands_and_stale_refusal(empty_database, monkeypatch):
    url = empty_database.url
    head = schema.HEAD_REVISION
    if empty_database.dialect == "sqlite":  # reading never creates a registry file
        missing = rrg(url, "db", "current")
        assert missing.exit_code == 2 and missing.output.startswith("Error: no registry at ")
        Path(sa.make_url(url).database).touch()
    assert rrg(url, "db", "current").output == f"revision none (this rrg needs {head}): empty\n"
    assert rrg(url, "db", "upgrade", "--revision", "0001").output == "registry upgraded from empty to 0001\n"
    stale = rrg(url, "runs", "list")
    assert stale.exit_code == 2 and stale.output.count("\n") == 1
    assert f"has schema revision 0001; this rrg needs {head} (hint: take a backup, then run `rrg db upgrade" in stale.output
    assert rrg(url, "db", "current").output == f"revision 0001 (this rrg needs {head}): needs `rrg db upgrade`\n"
    assert rrg(url, "db", "upgrade").output == f"registry upgraded from 0001 to {head}\n"
    assert rrg(url, "db", "upgrade").output == f"registry already at revision {head}\n"
    monkeypatch.setenv("RRG_REGISTRY_URL", url)
    result = CliRunner().invoke(cli, ["db", "current"])
    assert result.output == f"revision {head} (this rrg needs {head}): up to date\n"
    with Registry.from_url(url) as registry:
        assert registry.search_runs() == []


def test_unreachable_registries_are_one_line(tmp_path):
    missing = CliRunner().invoke(cli, ["runs", "list", "--registry", f"sqlite:///{tmp_path}/nope/r.db"])
    assert missing.exit_code == 2
    assert missing.output == (
        f"Error: cannot create the registry {tmp_path}/nope/r.db: the folder {tmp_path}/nope does not exist "
        "(hint: create the folder or give another --registry / RRG_REGISTRY_URL)\n"
    )
    refused = CliRunner().invoke(cli, ["runs", "list", "--registry", "postgresql://rrg@127.0.0.1:1/none"])
    assert refused.exit_code == 2 and refused.output.count("\n") == 1
    assert refused.output.startswith("Error: cannot open the registry at postgresql+psycopg://rrg@127.0.0.1:1/none: ")


def _one_line_error(args):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    return result.output


@pytest.mark.parametrize("command", [["runs", "list"], ["db", "current"], ["db", "upgrade"]])
def test_a_file_that_is_not_a_database_is_one_line(tmp_path, command):
    path = tmp_path / "notes.db"
    path.write_text("not a database\n" * 200)
    output = _one_line_error([*command, "--registry", f"sqlite:///{path}"])
    assert output.startswith(f"Error: cannot open the registry at sqlite:///{path}: file is not a database")


@pytest.mark.parametrize("command", [["db", "current"], ["db", "upgrade"]])
def test_db_commands_on_an_unreachable_server_are_one_line(command):
    output = _one_line_error([*command, "--registry", "postgresql://rrg@127.0.0.1:1/none"])
    assert output.startswith("Error: cannot open the registry at postgresql+psycopg://rrg@127.0.0.1:1/none: ")


def test_a_missing_database_driver_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    output = _one_line_error(["runs", "list", "--registry", "postgresql://rrg@db.example/rrg"])
    assert "psycopg" in output and "pip install 'rrg-sdk[postgres]'" in output


def test_a_malformed_registry_url_is_one_line():
    output = _one_line_error(["runs", "list", "--registry", "postgresql://rrg@db.example:port/rrg"])
    assert output.startswith("Error: cannot read the registry URL 'postgresql://rrg@db.example:port/rrg'")
