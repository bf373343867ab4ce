"""rrg card, and the import weight of the Hub modules."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner
from huggingface_hub import ModelCard
from rrg.cli import cli


def test_card_to_stdout_and_file(registry_url, trained_run, tmp_path) -> None:
    runner = CliRunner()
    shown = runner.invoke(
        cli,
        ["card", trained_run.run_id, "--registry", registry_url, "--repo", "my-org/demo-sft"],
        catch_exceptions=False,
    )
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("---\nbase_model: Qwen/Qwen2.5-VL-7B-Instruct\n")
    target = tmp_path / "card" / "README.md"
    written = runner.invoke(
        cli,
        [
            "card",
            trained_run.run_id[:5],
            "--registry",
            registry_url,
            "--repo",
            "my-org/demo-sft",
            "-o",
            str(target),
        ],
        catch_exceptions=False,
    )
    assert written.exit_code == 0
    assert target.read_text() == shown.output
    assert ModelCard.load(target).data.license == "cc-by-nc-4.0"


def test_card_without_repo_uses_a_placeholder_name(registry_url, trained_run) -> None:
    shown = CliRunner().invoke(
        cli, ["card", trained_run.run_id, "--registry", registry_url], catch_exceptions=False
    )
    assert "rrg pull your-org/demo-sft" in shown.output


def test_card_licence_override_is_checked(registry_url, trained_run) -> None:
    refused = CliRunner().invoke(
        cli, ["card", trained_run.run_id, "--registry", registry_url, "--license", "apache-2.0"]
    )
    assert refused.exit_code == 2
    assert refused.output.startswith(
        "Error: licence apache-2.0 would allow commercial use, but the adapter is trained from CC BY-NC-ND 4.0 material"
    )


def test_card_of_an_unknown_run(registry_url) -> None:
    result = CliRunner().invoke(cli, ["card", "ffffffff", "--registry", registry_url])
    assert result.exit_code == 2
    assert "ffffffff" in result.output


def test_hub_modules_import_light() -> None:
    code = (
        "import sys, rrg.hub.card, rrg.hub.bundle, rrg.hub.publish, rrg.hub.pull, rrg.cli.hub\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'huggingface_hub', 'jinja2') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_card_output_in_an_unwritable_place_is_one_line(
    registry_url, trained_run, tmp_path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = CliRunner().invoke(
        cli,
        ["card", trained_run.run_id, "--registry", registry_url, "-o", str(blocker / "README.md")],
        catch_exceptions=False,
    )
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: cannot write the card to {blocker / 'README.md'}: ")
    assert len(result.output.strip().splitlines()) == 1
