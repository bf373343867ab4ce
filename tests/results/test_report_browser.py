"""``rrg report`` opened in a real headless Chromium (Debian's ``/usr/bin/chromium``).

The test starts the browser itself with a throw-away profile and drives it through the DevTools
protocol (the ``websockets`` package): it opens the study fixture's report ``file://`` and checks
that the page renders with no console error, no uncaught exception and no request for anything
but the file itself and ``data:`` URIs; that the rendered tables hold the registry's numbers; and
that every embedded image decoded. A full-page screenshot is kept in ``$RRG_TEST_ARTIFACTS``
(default ``test-artifacts/`` at the repository root).

Without ``/usr/bin/chromium`` the test is skipped with the install hint, unless
``RRG_REQUIRE_CHROMIUM=1`` (set by ``.ci/run``): then it fails.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from .report_html import shown

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = "install Debian's package: apt-get install chromium (RRG_REQUIRE_CHROMIUM=1 makes its absence a failure)"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--remote-debugging-port=0",
    "--window-size=1280,900",
)
TIMEOUT = 30.0


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} not found: {INSTALL_HINT}"
    if os.environ.get("RRG_REQUIRE_CHROMIUM") == "1":
        pytest.fail(message)
    pytest.skip(message)


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("RRG_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class DevTools:
    """A DevTools protocol connection to the browser, commands sent to one attached page session;
    every event received is kept in ``events``."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def call(self, method: str, *, browser: bool = False, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if not browser and self.session is not None:
            message["sessionId"] = self.session
        self.socket.send(json.dumps(message))
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = json.loads(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if reply.get("id") == self.next_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        """The first event ``method`` of the page session (already received or still to come)."""
        deadline = time.monotonic() + TIMEOUT
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event.get("method") == method and event.get("sessionId") == self.session:
                    return event["params"]
            seen = len(self.events)
            self.events.append(json.loads(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.01))))

    def drain(self, quiet: float = 0.3) -> None:
        """Keep receiving until nothing arrives for ``quiet`` seconds."""
        while True:
            try:
                self.events.append(json.loads(self.socket.recv(timeout=quiet)))
            except TimeoutError:
                return

    def page_events(self, method: str) -> list[dict[str, Any]]:
        return [e["params"] for e in self.events if e.get("method") == method and e.get("sessionId") == self.session]

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"]["value"]


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[DevTools]:
    """A headless Chromium with its own profile, attached to its page; stopped afterwards."""
    require_chromium()
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    profile = tmp_path / "chromium-profile"
    log = (tmp_path / "chromium.log").open("wb")
    process = subprocess.Popen(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT
        while not (port_file.exists() and len(port_file.read_text().split()) == 2):
            assert process.poll() is None, f"chromium exited with {process.returncode}: {(tmp_path / 'chromium.log').read_text()[-2000:]}"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.05)
        port, path = port_file.read_text().split()
        with connect(f"ws://127.0.0.1:{port}{path}", max_size=None, proxy=None, open_timeout=TIMEOUT) as socket:
            devtools = DevTools(socket)
            pages = [t for t in devtools.call("Target.getTargets", browser=True)["targetInfos"] if t["type"] == "page"]
            target = pages[0]["targetId"] if pages else devtools.call("Target.createTarget", browser=True, url="about:blank")["targetId"]
            devtools.session = devtools.call("Target.attachToTarget", browser=True, targetId=target, flatten=True)["sessionId"]
            yield devtools
            with contextlib.suppress(ConnectionClosed):  # the browser may close the socket before replying
                devtools.call("Browser.close", browser=True)
    finally:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):  # the browser's own process group: its helpers too
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()


IMAGES_JS = "Array.from(document.images).map(i => ({src: i.src.slice(0, 32), complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}))"
TABLES_JS = """(() => {
  const table1 = {};
  for (const tr of document.querySelectorAll('#table1 tbody tr')) {
    const row = {};
    for (const td of tr.querySelectorAll('td[data-metric]')) row[td.dataset.metric] = td.innerText.trim();
    for (const td of tr.querySelectorAll('td[data-study]')) row['study/' + td.dataset.study] = td.innerText.trim();
    table1[tr.dataset.run] = row;
  }
  const table2 = {};
  for (const tr of document.querySelectorAll('#table2-components tbody tr'))
    for (const td of tr.querySelectorAll('td[data-component]'))
      table2[td.dataset.component + ' ' + tr.dataset.run] = td.querySelector('.value').innerText.trim();
  const visible = document.querySelector('#table1').getBoundingClientRect();
  return {table1, table2, table1Width: visible.width, title: document.title};
})()"""


def test_report_renders_in_chromium_offline_with_the_registry_numbers(chromium: DevTools, study_registry, tmp_path: Path) -> None:
    from rrg.cli import cli
    from rrg.results.names import model_name
    from rrg.results.reference import STUDY_TABLE1
    from rrg_registry import Registry

    output = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "--registry", study_registry.url, "-o", str(output)])
    assert result.exit_code == 0, result.output

    for domain in ("Page", "Runtime", "Log", "Network"):
        chromium.call(f"{domain}.enable")
    chromium.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
    url = output.as_uri()
    navigated = chromium.call("Page.navigate", url=url)
    assert "errorText" not in navigated, navigated
    chromium.wait_for("Page.loadEventFired")
    chromium.drain()

    # (a) no console error, no uncaught exception, nothing requested but the file and data: URIs
    errors = [e["args"] for e in chromium.page_events("Runtime.consoleAPICalled") if e["type"] in ("error", "assert")]
    errors += [e["exceptionDetails"] for e in chromium.page_events("Runtime.exceptionThrown")]
    errors += [e["entry"] for e in chromium.page_events("Log.entryAdded") if e["entry"]["level"] == "error"]
    assert errors == []
    requested = [e["request"]["url"] for e in chromium.page_events("Network.requestWillBeSent")]
    assert url in requested  # the network domain saw the page load, so it would have seen any other request
    assert [u for u in requested if u != url and not u.startswith("data:")] == []
    assert not chromium.page_events("Network.loadingFailed")

    # (b) the rendered tables hold the registry's numbers
    rendered = chromium.evaluate(TABLES_JS)
    assert rendered["table1Width"] > 0
    with Registry.from_url(study_registry.url, create=False) as registry:
        run_ids = list(study_registry.run_ids.values())
        details = {run_id: registry.get_run(run_id) for run_id in run_ids}
        components = registry.latest_components(run_ids)
    assert set(rendered["table1"]) == set(run_ids)
    for run_id, detail in details.items():
        row = rendered["table1"][run_id]
        published = STUDY_TABLE1[(detail.run.stage, model_name(detail.run.model_family, detail.run.model_id))]
        for metric in ("green_flare", "bleu4_flare", "ce"):
            assert row[metric] == shown(detail.metrics[metric]), (run_id, metric)
            assert row[f"study/{metric}"] == shown(published[metric]), (run_id, metric)
    expected = {f"{name} {run_id}": shown(getattr(values, name)) for run_id, values in components.items()
                for name in ("entity_matching", "location_accuracy", "negation_handling", "temporal_accuracy",
                             "measurement_accuracy", "clinical_significance", "structure_completeness")}
    assert rendered["table2"] == expected

    # (c) every embedded image decoded: the figures and the samples' thumbnails
    images = chromium.evaluate(IMAGES_JS)
    assert len([i for i in images if i["src"].startswith("data:image/png")]) >= 5
    assert any(i["src"].startswith("data:image/jpeg") for i in images)  # the samples' thumbnails
    undecoded = [i for i in images if not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
    assert undecoded == []

    # the whole page, kept for a person to look at
    size = chromium.call("Page.getLayoutMetrics")["cssContentSize"]
    shot = chromium.call(
        "Page.captureScreenshot", format="png", captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
    )
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    (artifacts_dir() / "report-study-chromium.png").write_bytes(png)


def test_without_chromium_the_browser_test_skips_unless_ci_requires_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("RRG_REQUIRE_CHROMIUM", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"no-chromium not found: install Debian's package: apt-get install chromium"):
        require_chromium()
    monkeypatch.setenv("RRG_REQUIRE_CHROMIUM", "1")
    with pytest.raises(pytest.fail.Exception, match=r"no-chromium not found: install Debian's package"):
        require_chromium()
