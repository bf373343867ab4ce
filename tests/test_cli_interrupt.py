"""Ctrl-C ends any rrg command with one line and exit status 130 (not click's "Aborted!", 1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from rrg.cli import cli


def test_ctrl_c_in_a_command_exits_130_with_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("rrg_registry.Registry.from_url", interrupted)
    result = CliRunner().invoke(cli, ["runs", "list", "--registry", f"sqlite:///{tmp_path / 'rrg.db'}"])
    assert result.exit_code == 130
    lines = result.output.strip().splitlines()
    assert lines == ["Interrupted: stopped by Ctrl-C"]
    assert "Aborted" not in result.output


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_to_a_running_command_exits_130(tmp_path) -> None:
    # a real SIGINT to a real process: `rrg score` reading a pairs file that never ends (a FIFO)
    fifo = tmp_path / "pairs.jsonl"
    os.mkfifo(fifo)
    process = subprocess.Popen(
        [sys.executable, "-c", "from rrg.cli import main; main()", "score", str(fifo)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    writer = os.open(fifo, os.O_WRONLY)  # the command has opened the file and waits for lines
    try:
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        os.close(writer)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].startswith("Interrupted: stopped by Ctrl-C")
    assert "Traceback" not in stderr and "Aborted" not in stderr
