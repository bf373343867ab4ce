"""``rrg score`` through the real entry point (rrg.cli:cli)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rrg.cli import cli
from rrg.metrics import evaluate, green_flare
from rrg.metrics.sample_pairs import SAMPLE_PAIRS

PAIRS = [
    {"id": "a", "prediction": "No pneumothorax.", "reference": "Pneumothorax."},
    {
        "prediction": "Heart size is normal. No effusion.",
        "reference": "Normal heart. No pleural effusion.",
    },
    # 300-character reference, 800-character prediction: cut to 500 it is no longer twice as long
    {
        "id": 7,
        "prediction": "Possible pneumonia. " * 15 + "x" * 500,
        "reference": "Possible pneumonia. " * 15,
    },
]


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in PAIRS), encoding="utf-8")
    return path


def run(*args: str):
    return CliRunner().invoke(cli, ["score", *args], catch_exceptions=False)


def test_table_output(pairs_file):
    result = run(str(pairs_file))
    assert result.exit_code == 0, result.output
    for name in (
        "green_flare",
        *green_flare.COMPONENTS,
        "severity_correlation",
        "bleu4_flare",
        "bleu4",
        "ce",
        "rouge_l",
    ):
        assert name in result.stdout
    assert "3 pairs" in result.stdout


def test_json_shape_and_values(pairs_file):
    result = run(str(pairs_file), "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert list(data) == [
        "n",
        "green_flare",
        "bleu4_flare",
        "bleu4",
        "ce",
        "rouge_l",
        "truncate_chars",
    ]
    assert list(data["green_flare"]) == ["overall", *green_flare.COMPONENTS, "severity_correlation"]
    expected = evaluate([p["prediction"] for p in PAIRS], [p["reference"] for p in PAIRS])
    assert data["n"] == 3
    assert data["green_flare"]["overall"] == expected.summary["green_flare"]
    assert data["ce"] == expected.summary["ce"]
    assert data["truncate_chars"] is None


def test_truncate_changes_only_predictions(pairs_file):
    data = json.loads(run(str(pairs_file), "--json", "--truncate", "500").stdout)
    preds = [p["prediction"][:500] for p in PAIRS]
    expected = evaluate(preds, [p["reference"] for p in PAIRS])
    assert data["truncate_chars"] == 500
    assert (
        data["green_flare"]["structure_completeness"] == expected.summary["structure_completeness"]
    )
    untruncated = json.loads(run(str(pairs_file), "--json").stdout)
    assert (
        data["green_flare"]["structure_completeness"]
        != untruncated["green_flare"]["structure_completeness"]
    )


def test_metrics_option_and_per_sample_file(pairs_file, tmp_path):
    out = tmp_path / "rows.jsonl"
    result = run(str(pairs_file), "--metrics", "green_flare,ce", "--per-sample", str(out), "--json")
    assert result.exit_code == 0
    assert list(json.loads(result.stdout)) == ["n", "green_flare", "ce", "truncate_chars"]
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", 1, 7]
    first = green_flare.score_pair(PAIRS[0]["prediction"], PAIRS[0]["reference"])
    assert rows[0]["green_flare"] == first.overall
    assert rows[0]["entity_matching"] == first.entity_matching
    assert rows[0]["entity_details"] == first.entity_details.as_dict()
    assert set(rows[0]) == {"id", "green_flare", *green_flare.COMPONENTS, "severity_correlation",
                            "entity_details", "ce", "ce_prediction", "ce_reference"}  # fmt: skip


def test_bundled_sample_scores():
    result = run(str(SAMPLE_PAIRS), "--json", "--metrics", "green_flare,bleu4_flare,ce")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["n"] == 200


BAD_INPUTS = [
    ('{"prediction": "a", "reference": "b"}\nnot json\n', 2, "not valid JSON"),
    ('{"prediction": "a"}\n', 1, "missing field 'reference'"),
    (
        '{"prediction": "a", "reference": "b"}\n\n{"reference": "b"}\n',
        3,
        "missing field 'prediction'",
    ),
    ('{"prediction": 3, "reference": "b"}\n', 1, "field 'prediction' must be a string, got number"),
    ('{"prediction": "a", "reference": null}\n', 1, "field 'reference' must be a string, got null"),
    ('["a", "b"]\n', 1, "expected a JSON object, got array"),
    (
        '{"id": [1], "prediction": "a", "reference": "b"}\n',
        1,
        "field 'id' must be a string or an integer",
    ),
    ("", 1, "no pairs, the file is empty"),
    ("\n  \n", 1, "no pairs, the file is empty"),
]


@pytest.mark.parametrize(("content", "line", "message"), BAD_INPUTS)
def test_bad_input_is_one_line_naming_file_and_line(tmp_path, content, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    result = run(str(path))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"Error: {path}:{line}: {message}")
    assert "Traceback" not in result.output


def test_not_utf8(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"prediction": "a", "reference": "b"}\n{"prediction": "\xff"}\n')
    result = run(str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path}:2: not UTF-8 text")


def test_missing_file(tmp_path):
    path = tmp_path / "missing.jsonl"
    result = run(str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path}: no such file")
    assert result.stderr.count("\n") == 1


def test_unknown_metric(pairs_file):
    result = run(str(pairs_file), "--metrics", "green_flare,GREEN")
    assert result.exit_code == 2
    assert "unknown metric 'GREEN'" in result.stderr


def test_green_llm_explains_itself(pairs_file):
    result = run(str(pairs_file), "--metrics", "green_llm")
    assert result.exit_code == 2
    assert "Ostmeier" in result.stderr and "register" in result.stderr
    assert result.stderr.count("\n") == 1


def test_per_sample_file_that_cannot_be_written_is_one_line(pairs_file, tmp_path):
    out = tmp_path / "missing" / "rows.jsonl"
    result = CliRunner().invoke(cli, ["score", str(pairs_file), "--per-sample", str(out)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Error: {out}: cannot write the per-sample file")
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""
