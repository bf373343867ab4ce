"""The study's published numbers beside the registry's: ``rrg table --reference study`` and
``rrg components --reference study`` on the study fixture registry. The paper's numbers are read
from the copy of its tables in docs/reproduce.md; the registry's straight from the registry; the
rows are keyed by model name, so two models of one family are two rows."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from rrg_registry import GREEN_FLARE_COMPONENTS, Registry

from rrg.cli import cli
from rrg.results.names import STUDY_ORDER, model_name, stage_name
from rrg.results.reference import (
    STUDY_COMPONENTS,
    STUDY_TABLE1,
    relative_gain,
    stage_gains,
)

REPO = Path(__file__).resolve().parents[2]
STAGES = {"zero-shot": "zero_shot", "SFT": "sft", "GRPO": "grpo"}
TABLE2_COLUMNS = {"base": "zero_shot", "SFT": "sft", "RL": "grpo"}
TABLE2_MODELS = {"DeepSeek-OCR": "DeepSeek-OCR", "Qwen3-VL": "Qwen3-VL-4B"}


def rrg(url: str, *args: str):
    result = CliRunner().invoke(cli, [*args, "--registry", url], env={"COLUMNS": "250"})
    return result


def _markdown_tables(text: str) -> list[list[list[str]]]:
    tables, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r"-+", c) for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables + ([current] if current else [])


def published_tables() -> tuple[dict, dict]:
    """Table 1 and Table 2 as docs/reproduce.md prints the study's numbers."""
    tables = _markdown_tables((REPO / "docs" / "reproduce.md").read_text())
    first = next(t for t in tables if t[0] == ["stage", "model", "green_flare", "bleu4_flare", "ce"])
    second = next(t for t in tables if t[0][0] == "component")
    table1 = {
        (STAGES[stage], model): {"green_flare": float(g), "bleu4_flare": float(b), "ce": float(c)}
        for stage, model, g, b, c in first[1:]
    }
    table2: dict = {}
    for header_index, header in enumerate(second[0][1:], start=1):
        model, _, column = header.rpartition(" ")
        key = (TABLE2_COLUMNS[column], TABLE2_MODELS[model])
        table2[key] = {row[0]: float(row[header_index]) for row in second[1:]}
    return table1, table2


def test_the_reference_numbers_are_the_papers():
    table1, table2 = published_tables()
    assert STUDY_TABLE1 == table1 and list(STUDY_TABLE1) == list(table1)
    assert STUDY_COMPONENTS == table2 and list(STUDY_COMPONENTS) == list(table2)
    assert {model for _, model in STUDY_TABLE1} == set(STUDY_ORDER)
    assert all(list(values) == list(GREEN_FLARE_COMPONENTS) for values in STUDY_COMPONENTS.values())


def test_relative_gains_are_derived_from_the_tables():
    gains = stage_gains(STUDY_COMPONENTS, "DeepSeek-OCR", "zero_shot", "sft")
    assert list(gains) == list(GREEN_FLARE_COMPONENTS)
    assert gains["location_accuracy"] == pytest.approx((0.789 - 0.218) / 0.218)  # the paper's +262 %
    assert gains["clinical_significance"] == pytest.approx((0.577 - 0.083) / 0.083)
    rl = stage_gains(STUDY_COMPONENTS, "Qwen3-VL-4B", "sft", "grpo")
    assert rl["entity_matching"] == pytest.approx((0.813 - 0.767) / 0.767)
    assert stage_gains(STUDY_COMPONENTS, "MedGemma-4B", "zero_shot", "sft") == {}
    assert stage_gains(STUDY_TABLE1, "Qwen3-VL-4B", "sft", "grpo")["green_flare"] == pytest.approx(0.024 / 0.769)
    assert relative_gain(0.0, 0.5) is None and relative_gain(None, 0.5) is None
    assert relative_gain(0.5, 0.25) == pytest.approx(-0.5)


def _registry_values(url: str) -> tuple[dict, dict, dict]:
    """Per run id: its (stage, model name), metrics and latest components, read from the registry."""
    with Registry.from_url(url) as registry:
        runs = registry.search_runs(status="succeeded")
        keys = {r.id: (r.stage, model_name(r.model_family, r.model_id)) for r in runs}
        metrics = {r.id: r.metrics for r in runs}
        components = {k: v.values() for k, v in registry.latest_components([r.id for r in runs]).items()}
    return keys, metrics, components


def test_table_reference_column_and_deltas(study_registry):
    url = study_registry.url
    result = rrg(url, "table", "--reference", "study", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    keys, metrics, _ = _registry_values(url)
    assert [(r["stage"], r["model"]) for r in rows] == list(STUDY_TABLE1)  # the study's nine rows, in its order
    assert {r["run"] for r in rows} == set(study_registry.run_ids.values())
    for row in rows:
        assert keys[row["run"]] == (row["stage"], row["model"])
        paper = STUDY_TABLE1[(row["stage"], row["model"])]
        for name in ("green_flare", "bleu4_flare", "ce"):
            assert row[name] == metrics[row["run"]][name]
            assert row[f"{name}_paper"] == paper[name]
            assert row[f"{name}_delta"] == pytest.approx(metrics[row["run"]][name] - paper[name])
    assert list(rows[0])[:8] == ["stage", "model", "run", "green_flare", "green_flare_paper", "green_flare_delta",
                                 "bleu4_flare", "bleu4_flare_paper"]

    table = list(csv.DictReader(io.StringIO(rrg(url, "table", "--reference", "study", "--csv").output)))
    assert list(table[0]) == ["stage", "model", "recipe", "run", "green_flare", "green_flare_paper", "green_flare_delta",
                              "bleu4_flare", "bleu4_flare_paper", "bleu4_flare_delta", "ce", "ce_paper", "ce_delta"]
    assert [(r["stage"], r["model"], float(r["ce_paper"])) for r in table] == [
        (r["stage"], r["model"], r["ce_paper"]) for r in rows]

    shown = rrg(url, "table", "--reference", "study").output
    assert all(name in shown for name in STUDY_ORDER) and "zero-shot" in shown and "GRPO" in shown
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in shown.splitlines() if line.startswith("│")]
    assert [(c[0], c[1]) for c in cells] == [(stage_name(s), m) for s, m in STUDY_TABLE1]
    assert "green_flare_paper" in shown and "note: METRIC_paper: the study's Table 1" in shown


def test_a_paper_row_without_a_run_shows_as_missing(study_registry):
    rows = json.loads(rrg(study_registry.url, "table", "--reference", "study", "--tag", "no-such-tag", "--json").output)
    assert [(r["stage"], r["model"]) for r in rows] == list(STUDY_TABLE1)
    assert all(r["run"] is None and r["green_flare"] is None and r["green_flare_delta"] is None for r in rows)
    assert [r["green_flare_paper"] for r in rows] == [v["green_flare"] for v in STUDY_TABLE1.values()]


def test_components_reference_rows_deltas_and_gains(study_registry):
    url = study_registry.url
    keys, _, components = _registry_values(url)
    by_key = {key: components[run] for run, key in keys.items()}
    result = rrg(url, "components", "--reference", "study", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 9 * 7
    assert list(rows[0]) == ["model", "stage", "component", "value", "paper", "delta", "gain", "gain_paper"]
    assert [r["model"] for r in rows[::7]] == [m for m in STUDY_ORDER for _ in ("zero_shot", "sft", "grpo")
                                               if (_, m) in STUDY_TABLE1]
    earlier = {"sft": "zero_shot", "grpo": "sft"}
    for row in rows:
        key = (row["stage"], row["model"])
        value = by_key[key][row["component"]]
        assert row["value"] == value
        paper = STUDY_COMPONENTS.get(key, {}).get(row["component"])
        assert row["paper"] == paper
        assert row["delta"] == (None if paper is None else pytest.approx(value - paper))
        before = earlier.get(row["stage"])
        if before is None:
            assert row["gain"] is None and row["gain_paper"] is None
            continue
        previous = by_key[(before, row["model"])][row["component"]]
        assert row["gain"] == pytest.approx((value - previous) / previous)
        paper_before = STUDY_COMPONENTS.get((before, row["model"]), {}).get(row["component"])
        expected = None if paper is None or paper_before is None else pytest.approx((paper - paper_before) / paper_before)
        assert row["gain_paper"] == expected
    deepseek = next(r for r in rows if (r["model"], r["stage"], r["component"]) == ("DeepSeek-OCR", "sft", "location_accuracy"))
    assert deepseek["gain_paper"] == pytest.approx(2.619, abs=1e-3)


def test_components_filters_keep_the_gain_over_the_earlier_stage(study_registry):
    url = study_registry.url
    keys, _, components = _registry_values(url)
    by_key = {key: components[run] for run, key in keys.items()}
    rows = json.loads(rrg(url, "components", "--model", "qwen3-vl-4b", "--stage", "grpo", "--reference", "study",
                          "--json").output)
    assert {(r["model"], r["stage"]) for r in rows} == {("Qwen3-VL-4B", "grpo")} and len(rows) == 7
    grpo, sft = by_key[("grpo", "Qwen3-VL-4B")], by_key[("sft", "Qwen3-VL-4B")]
    assert [r["gain"] for r in rows] == [pytest.approx((grpo[c] - sft[c]) / sft[c]) for c in GREEN_FLARE_COMPONENTS]

    wide = list(csv.reader(io.StringIO(rrg(url, "components", "--model", "DeepSeek-OCR", "--csv").output)))
    assert wide[0] == ["component", "DeepSeek-OCR/zero_shot", "DeepSeek-OCR/sft", "DeepSeek-OCR/sft gain"]
    zero, tuned = by_key[("zero_shot", "DeepSeek-OCR")], by_key[("sft", "DeepSeek-OCR")]
    for line, name in zip(wide[1:], GREEN_FLARE_COMPONENTS, strict=True):
        assert line[0] == name and float(line[1]) == zero[name] and float(line[2]) == tuned[name]
        assert float(line[3]) == pytest.approx((tuned[name] - zero[name]) / zero[name])
    shown = rrg(url, "components", "--model", "DeepSeek-OCR").output
    assert "DeepSeek-OCR zero-shot" in shown and "DeepSeek-OCR SFT gain" in shown and " %" in shown

    only_sft = list(csv.reader(io.StringIO(rrg(url, "components", "--stage", "sft", "--csv").output)))
    assert only_sft[0][1:] == [f"{m}/sft{g}" for m in STUDY_ORDER for g in ("", " gain")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "Qwen3-VL-8B"], ("Error: no run of a model named 'Qwen3-VL-8B' fills a row of the table "
                                      "(hint: models with a row: DeepSeek-OCR, Qwen2.5-VL-7B, Qwen3-VL-4B, MedGemma-4B)\n")),
        (["--stage", "grpo", "--tag", "no-such-tag"], ("Error: no run of stage grpo (GRPO) fills a row of the table "
                                                        "(hint: stages with a row: none)\n")),
    ],
)
def test_components_filter_errors_are_one_line(study_registry, args, message):
    result = rrg(study_registry.url, "components", *args)
    assert result.exit_code == 2
    assert result.output == message


def test_two_models_of_one_family_are_two_rows(study_registry):
    """A Qwen3-VL-8B SFT run next to the fixture's Qwen3-VL-4B one: its own row and column,
    with no published value to stand beside it."""
    url = study_registry.url
    with Registry.from_url(url) as registry:
        recipe = registry.record_recipe("qwen3-vl-8b-sft", 1, "8" * 64, "name: qwen3-vl-8b-sft\n")
        run = registry.create_run(recipe.id, "sft", "qwen3_vl", "Qwen/Qwen3-VL-8B-Instruct")
        registry.start_run(run.id)
        values = dict(zip(GREEN_FLARE_COMPONENTS, (0.9, 0.7, 0.99, 0.9, 1.0, 0.7, 0.9)))
        registry.record_evaluation(run.id, "validation-public", {"green_flare": 0.88, "bleu4_flare": 0.2, "ce": 0.9},
                                   components=values, n=240, status="succeeded")
        four_b = registry.search_runs(recipe="qwen3-vl-4b-sft")[0]

    rows = {(r["stage"], r["model"]): r for r in json.loads(rrg(url, "table", "--reference", "study", "--json").output)}
    assert rows[("sft", "Qwen3-VL-8B-Instruct")]["run"] == run.id
    assert rows[("sft", "Qwen3-VL-8B-Instruct")]["green_flare_paper"] is None
    assert rows[("sft", "Qwen3-VL-4B")]["run"] == four_b.id
    assert rows[("sft", "Qwen3-VL-4B")]["green_flare_paper"] == 0.769
    plain = [(r["stage"], r["model"]) for r in json.loads(rrg(url, "table", "--json").output)]
    assert plain.index(("sft", "Qwen3-VL-4B")) + 1 == plain.index(("sft", "Qwen3-VL-8B-Instruct"))

    header = next(csv.reader(io.StringIO(rrg(url, "components", "--csv").output)))
    assert "Qwen3-VL-4B/sft" in header and "Qwen3-VL-8B-Instruct/sft" in header
    assert "Qwen3-VL-8B-Instruct/sft gain" not in header  # no zero-shot run of the 8B model
    eight_b = [r for r in json.loads(rrg(url, "components", "--reference", "study", "--json").output)
               if r["model"] == "Qwen3-VL-8B-Instruct"]
    assert [r["value"] for r in eight_b] == list(values.values())
    assert all(r["paper"] is None and r["delta"] is None and r["gain"] is None for r in eight_b)
