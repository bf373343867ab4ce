"""Every ``rrg`` command line in README.md and docs/*.md runs, or at least parses, as written.

What is collected (by :func:`collect_examples`):

* each line of a fenced code block that starts with ``rrg `` (after an optional ``$ `` prompt),
  and each ``.venv/bin/rrg`` step of a ``&&`` chain (the README's main job); a line ending in
  ``\\`` continues on the next, and so does a synopsis wrapped onto a line starting with ``[``;
* each inline code span that starts with ``rrg `` (a command named in prose).

What happens to each (:func:`disposition`, rules in order, all visible below):

* **executed** in one workspace (a temporary folder holding a copy of ``recipes/``, the bundled
  ``sdk/rrg/assets/sample_pairs.jsonl``, and ``pairs.jsonl`` / ``preds.jsonl`` copied from it; an
  empty Hugging Face cache with ``HF_HUB_OFFLINE=1``) whose registry ``rrg.db`` holds one small
  zero-shot run and one small SFT run of the demo recipes, made by running the README's quick
  start. The run-id placeholders of the docs are replaced by those runs' ids (:data:`RUN_IDS`);
  ``rrg run`` of a demo recipe gets the small overrides of tests/engine/engine_helpers.py appended
  (:func:`demo_overrides`: the demo's own settings train for minutes; the README's main job is run
  as written by the ``slow`` test at the end). An executed command must exit with status 0,
  unless the docs show it with a ``$`` prompt followed by ``Error:`` lines: then it must exit with
  status 2 and print those lines.
* **parsed only** by the real click command tree (the command resolved, ``make_context`` called
  with its arguments, so an unknown command or option fails): Hub downloads and uploads, GPU runs,
  shell loops, the user's own data paths, PostgreSQL URLs, an interrupted run to resume (see
  :data:`NOT_EXECUTED`); for synopses (``[--opt X]``, ``A|B``, ``RUN...``, an unmapped upper-case
  placeholder) and commands named in prose only the command and option names are checked.

Lines the docs show as printed by rrg (fenced lines starting ``Error:`` or ``note:``) are
checked too: after a ``$ rrg`` example against that command's output, otherwise against the
command in :data:`PRINTED` (or, for a Hub failure that needs a server, against the test that
asserts that exact line: :data:`PRINTED_ELSEWHERE`). Outputs are compared after replacing the
workspace folder by ``/home/me/rrg``, the cache folder by ``/home/me/.cache``, 12-hex recipe hashes
by ``<hash>`` and the SFT run's id by the id the docs print (:func:`as_documented`).

Not covered: Python snippets (```python blocks), YAML and JSON examples, and non-rrg shell lines
(``pip``, ``pytest``, ``export``, ``eval``); docs/recipes.md is generated from the schema but its
``rrg`` lines are collected like any other.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

REPO = Path(__file__).resolve().parents[1]
DOC_FILES = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))

_spec = importlib.util.spec_from_file_location("docs_engine_helpers", REPO / "tests" / "engine" / "engine_helpers.py")
engine_helpers = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = engine_helpers  # dataclasses look their module up there
_spec.loader.exec_module(engine_helpers)

DOC_WORKSPACE = "/home/me/rrg"
"""Where the docs' examples are run: error messages name recipe files by absolute path."""
DOC_CACHE = "/home/me/.cache"
"""``$XDG_CACHE_HOME`` (``~/.cache``) as the docs print it."""

RUN_IDS: dict[str, str] = {
    "RUN": "sft",
    "RUN_A": "zero_shot",
    "RUN_B": "sft",
    "3fa2": "sft",  # docs/hub.md names its run by a prefix
}
"""Run-id placeholders of the docs -> the workspace run (by stage) that replaces them."""
DOC_SFT_ID = "3fa2c1d0"
"""The SFT run's id in the docs' printed messages (``Error: run 3fa2c1d0 trained ...``)."""

DEMO_STAGES = {"zero-shot.yaml": "zero_shot", "base.yaml": "zero_shot", "sft.yaml": "sft", "grpo.yaml": "grpo"}

NOT_EXECUTED: tuple[tuple[str, str], ...] = (
    (r"^rrg pull\b", "downloads from the Hugging Face Hub (needs Hub access)"),
    (r"^rrg publish\b(?!.*--dry-run)", "uploads to the Hugging Face Hub (needs Hub access and a token)"),
    (r"^rrg resume\b", "needs an interrupted run"),
    (r"\$", "a shell variable (a loop over the study's recipes)"),
    (r"^rrg run recipes/paper/(?!.*--device cpu)", "a study recipe at full size: needs a CUDA GPU and the Hub"),
    (r"(^| |=)/(data|path/to|shared)/", "names the user's own data"),
    (r"postgresql://", "needs a PostgreSQL server"),
    (r"sqlite:////tmp/study\.db", "the study fixture registry of docs/results.md (its figures are drawn by tests/results)"),
)
"""Full command lines that are parsed but not executed: (regex on the line, why)."""

HUB_COMMIT = "1f0c4e8c9a7b6d5e4f3a2b1c0d9e8f7a6b5c4d3e"

PRINTED: dict[str, tuple[tuple[str, ...], str]] = {
    # docs/engine.md: a recorded name@version run with other content
    f"Error: {DOC_WORKSPACE}/recipes/demo/sft.yaml: recipe demo-sft@2 is already recorded with different content "
    "(recorded 390fe00c0abf, this one b2b23656d1ed) (hint: bump `version:` to 3 (compare with: rrg recipe show demo-sft@2))": (
        ("run", "recipes/demo/sft.yaml", "--dry-run"),
        "hf/hub",
    ),
    # docs/engine.md: the substitutions of --device cpu
    **{
        f"note: --device cpu: {note}": (
            ("plan", "recipes/paper/qwen3-vl-4b/sft.yaml", "--device", "cpu", "--set", "model.id=tiny", "--set", "data.root=demo", "--set", "data.expect=null"),
            "hf/hub",
        )
        for note in (
            "hardware.accelerator h100 ignored",
            "precision bf16 → fp32",
            "backend unsloth → transformers + PEFT",
            "optimizer adamw_8bit → adamw_torch",
        )
    },
    # docs/hub.md
    f"Error: run {DOC_SFT_ID} trained rrg's tiny random-weight twin, a test artifact that is only published privately "
    "(hint: publish with --private (the default), or train a real base model)": (
        ("publish", "RUN", "--repo", "my-org/x", "--public"),
        "hf/hub",
    ),
    "Error: pulling my-org/x: not in the local Hugging Face cache, and the Hub could not be reached "
    "(hint: connect to the network (and unset HF_HUB_OFFLINE), then retry)": (("pull", "my-org/x"), "hf/hub"),
    f"Error: my-org/x@{HUB_COMMIT}: adapter_model.safetensors does not match the sha256 recorded in rrg_results.json "
    "(hint: delete the cached copy (`hf cache rm` or remove the folder) and pull again)": (
        ("pull", "my-org/x"),
        "hf-tampered",  # a Hugging Face cache holding the SFT run's bundle with its weights changed
    ),
    # docs/metrics.md (radgraph installed, its weights not downloaded)
    f"Error: radgraph_f1 needs the radgraph-xl weights, file radgraph-xl.tar.gz of the Hugging Face Hub repository "
    f"StanfordAIMI/RRG_scorers; found neither the extracted model in {DOC_CACHE}/radgraph/0.1.18/radgraph-xl nor the "
    f"archive in the Hugging Face cache under {DOC_CACHE}/radgraph/0.1.18 (hint: on a machine with network access run "
    f"`hf download StanfordAIMI/RRG_scorers radgraph-xl.tar.gz --cache-dir {DOC_CACHE}/radgraph/0.1.18` (or copy that "
    "folder here))": (("score", "sdk/rrg/assets/sample_pairs.jsonl", "--metrics", "radgraph_f1"), "hf/hub"),
}
"""Printed lines shown in the docs without their command -> (that command, the workspace's Hugging
Face cache it runs with). Placeholders in the command are mapped as in the examples."""

PRINTED_ELSEWHERE: dict[str, str] = {
    "Error: publishing to my-org/x: the Hub answered HTTP 401 (Invalid credentials in Authorization header) "
    "(hint: log in with `hf auth login` or set HF_TOKEN to a token with write access)": "tests/hub/test_publish.py",
}
"""Printed lines that need a Hub server -> the test that asserts that message (its repository name
``my-org/demo-sft`` read as ``my-org/x``)."""


# ------------------------------------------------------------------------------------------- collecting


@dataclass(frozen=True)
class Example:
    source: str  # "docs/engine.md:57"
    text: str  # the command line, comments and prompt removed, continuations joined
    inline: bool = False
    printed: tuple[str, ...] = ()  # the Error: lines shown after a `$ rrg` example


@dataclass(frozen=True)
class PrintedLine:
    source: str
    text: str
    after_command: bool


def _strip_comment(line: str) -> str:
    return re.sub(r"\s+#\s.*$", "", line).strip()


def _logical_lines(lines: list[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """Join ``\\`` continuations and synopsis wraps (a next line starting with ``[``)."""
    buffer: list[str] = []
    start = 0
    for number, raw in lines:
        if buffer and (buffer[-1].endswith("\\") or raw.lstrip().startswith("[")):
            buffer[-1] = buffer[-1].rstrip("\\").rstrip()
            buffer.append(raw.strip())
            continue
        if buffer:
            yield start, " ".join(buffer)
        buffer, start = [raw.rstrip()], number
    if buffer:
        yield start, " ".join(buffer)


def collect(path: Path) -> tuple[list[Example], list[PrintedLine]]:
    rel = path.relative_to(REPO).as_posix()
    examples: list[Example] = []
    printed: list[PrintedLine] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    prose = list(lines)
    block: list[tuple[int, str]] | None = None
    language = ""
    for number, line in enumerate(lines, start=1):
        if line.lstrip().startswith("```"):
            if block is None:
                block, language = [], line.strip().strip("`")
            else:
                if language != "python":
                    _collect_block(rel, block, examples, printed)
                block = None
            prose[number - 1] = ""
            continue
        if block is not None:
            block.append((number, line))
            prose[number - 1] = ""
    text = "\n".join(prose)
    for match in re.finditer(r"`(rrg [^`]+)`", text):
        number = text.count("\n", 0, match.start()) + 1
        examples.append(Example(f"{rel}:{number}", " ".join(match.group(1).split()), inline=True))
    return examples, printed


def _collect_block(rel: str, block: list[tuple[int, str]], examples: list[Example], printed: list[PrintedLine]) -> None:
    current: Example | None = None
    for number, line in _logical_lines(block):
        stripped = line.strip()
        if stripped.startswith(("Error:", "note:")):
            printed.append(PrintedLine(f"{rel}:{number}", stripped, after_command=current is not None))
            if current is not None:
                examples[-1] = current = Example(current.source, current.text, printed=(*current.printed, stripped))
            continue
        prompt = stripped.startswith("$ ")
        command = stripped[2:] if prompt else stripped
        parts = [p.strip() for p in command.split("&&")]
        found = False
        for part in parts:
            if part.startswith(".venv/bin/rrg "):
                part = part[len(".venv/bin/") :]
            if part.startswith("rrg "):
                examples.append(Example(f"{rel}:{number}", _strip_comment(part)))
                found = True
        current = examples[-1] if (found and prompt) else None


def collect_examples() -> tuple[list[Example], list[PrintedLine]]:
    examples: list[Example] = []
    printed: list[PrintedLine] = []
    for path in DOC_FILES:
        found, shown = collect(path)
        examples += found
        printed += shown
    return examples, printed


EXAMPLES, PRINTED_LINES = collect_examples()


# ------------------------------------------------------------------------------------------- deciding


def is_synopsis(text: str) -> bool:
    """Brackets, ``A|B``, ``X...``, or an upper-case placeholder the test does not map (``NAME@VERSION``)."""
    if re.search(r"\[|\||\.\.\.", text):
        return True
    return any(re.fullmatch(r"[A-Z][A-Z_@/]*[A-Z]", word) and word not in RUN_IDS for word in text.split())


def disposition(example: Example) -> tuple[str, str]:
    """``("run", "")``, or ``("parse", why)`` / ``("synopsis", why)`` for lines only parsed."""
    if example.inline:
        return "synopsis", "named in prose"
    if is_synopsis(example.text):
        return "synopsis", "a synopsis"
    for pattern, why in NOT_EXECUTED:
        if re.search(pattern, example.text):
            return "parse", why
    return "run", ""


def demo_overrides(args: list[str]) -> list[str]:
    """The small overrides appended to ``rrg run recipes/demo/X.yaml`` (none for other commands)."""
    if len(args) >= 2 and args[0] == "run" and args[1].startswith("recipes/demo/"):
        stage = DEMO_STAGES[Path(args[1]).name]
        return [item for override in engine_helpers.SMALL[stage] for item in ("--set", override)]
    return []


def split_command(text: str) -> tuple[list[str], str | None]:
    """The arguments after ``rrg`` and the file a ``>`` redirect names."""
    words = shlex.split(text, comments=True)
    assert words[0] == "rrg", text
    words = words[1:]
    if ">" in words:
        at = words.index(">")
        return words[:at], words[at + 1]
    return words, None


def synopsis_words(text: str) -> list[str]:
    """A synopsis as words: brackets and ``...`` dropped, ``A|B`` and ``--x/--y`` as both."""
    text = text.replace("[", " ").replace("]", " ").replace("...", " ")
    words = []
    for word in shlex.split(text, comments=True)[1:]:
        for part in word.split("|"):
            words += part.split("/") if part.startswith("--") else [part]
    return words


def parse(args: list[str], *, names_only: bool = False) -> click.Command:
    """Resolve ``rrg ARGS`` in the real command tree, then build the leaf command's context from
    the remaining arguments (click's own parsing: options, values, arguments). With
    ``names_only`` (synopses, prose) only check that every ``-x``/``--name`` is an option of it."""
    from rrg.cli import cli

    command: click.Command = cli
    ctx = click.Context(cli, info_name="rrg")
    name, rest = "rrg", list(args)
    while isinstance(command, click.Group):
        assert rest and not rest[0].startswith("-"), f"rrg {' '.join(args)}: no command after {name!r}"
        name, sub, rest = command.resolve_command(ctx, rest)  # an unknown name raises UsageError
        if isinstance(sub, click.Group):
            ctx = click.Context(sub, info_name=name, parent=ctx)
        command = sub
    if names_only:
        known = {opt for param in command.get_params(ctx) for opt in (*param.opts, *param.secondary_opts)}
        for word in rest:
            if word.startswith("-") and not re.fullmatch(r"-\d.*", word):
                assert word.split("=")[0] in known, f"rrg {' '.join(args)}: {word} is not an option of {name!r}"
    else:
        command.make_context(name, rest, parent=ctx)
    return command


# ------------------------------------------------------------------------------------------- the workspace


@dataclass
class Workspace:
    folder: Path
    cache_home: Path
    run_ids: dict[str, str] = field(default_factory=dict)  # stage -> id
    results: dict[tuple, Result] = field(default_factory=dict)

    def args(self, words: list[str]) -> list[str]:
        return [self.run_ids[RUN_IDS[w]] if w in RUN_IDS and RUN_IDS[w] in self.run_ids else w for w in words]

    def invoke(self, args: list[str], hub_cache: str = "hf/hub") -> Result:
        """``rrg ARGS`` in this workspace, once per distinct command (the result is kept), with
        ``hub_cache`` (a folder of the workspace) as the Hugging Face cache."""
        from huggingface_hub import constants
        from rrg.cli import cli

        key = (tuple(args), hub_cache)
        if key not in self.results:
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("HF_HUB_CACHE", str(self.folder / hub_cache))
                patch.setattr(constants, "HF_HUB_CACHE", str(self.folder / hub_cache))
                result = CliRunner().invoke(cli, args)
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                raise result.exception
            self.results[key] = result
        return self.results[key]

    def as_documented(self, text: str) -> str:
        text = text.replace(str(self.folder), DOC_WORKSPACE).replace(str(self.cache_home), DOC_CACHE)
        if "sft" in self.run_ids:
            text = text.replace(self.run_ids["sft"], DOC_SFT_ID)
        return hashes_hidden(text)


def hashes_hidden(text: str) -> str:
    return re.sub(r"\b[0-9a-f]{12}\b", "<hash>", text)


QUICK_START_SFT = ["run", "recipes/demo/sft.yaml"]
QUICK_START_ZERO_SHOT = ["run", "recipes/demo/zero-shot.yaml"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, xdg_cache_home: Path, demo_cache: Path) -> Iterator[Workspace]:
    """The folder every executed example runs in, with the demo registry of the quick start."""
    from huggingface_hub import constants as hf_constants

    folder = tmp_path_factory.mktemp("docs-examples")
    shutil.copytree(REPO / "recipes", folder / "recipes")
    assets = folder / "sdk" / "rrg" / "assets"
    assets.mkdir(parents=True)
    pairs = REPO / "sdk" / "rrg" / "assets" / "sample_pairs.jsonl"
    for target in (assets / pairs.name, folder / "pairs.jsonl", folder / "preds.jsonl"):
        shutil.copyfile(pairs, target)
    (folder / "tmp").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("XDG_CACHE_HOME", str(xdg_cache_home))
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(hf_constants, "HF_HUB_OFFLINE", True)  # read when huggingface_hub was imported
        patch.setenv("HF_HOME", str(folder / "hf"))
        patch.setattr(hf_constants, "HF_HOME", str(folder / "hf"))
        patch.setattr(hf_constants, "HF_TOKEN_PATH", str(folder / "hf" / "token"))
        patch.delenv("HF_TOKEN", raising=False)
        patch.delenv("RRG_REGISTRY_URL", raising=False)
        patch.setenv("COLUMNS", "200")
        patch.setenv("TMPDIR", str(folder / "tmp"))
        patch.setattr(tempfile, "tempdir", str(folder / "tmp"))  # rrg publish --dry-run's folders
        space = Workspace(folder, xdg_cache_home)
        # the README's quick start, with the small overrides: a zero-shot run, then the SFT run
        for args in (QUICK_START_ZERO_SHOT, QUICK_START_SFT):
            result = space.invoke([*args, *demo_overrides(args)])
            assert result.exit_code == 0, result.output
        from rrg_registry import Registry

        with Registry.from_url(f"sqlite:///{folder / 'rrg.db'}") as registry:
            for run in registry.search_runs():
                space.run_ids.setdefault(run.stage, run.id)
        assert set(space.run_ids) == {"zero_shot", "sft"}
        _tampered_hub_cache(space)
        yield space


def _tampered_hub_cache(space: Workspace) -> None:
    """``hf-tampered``: the SFT run's bundle as ``snapshot_download`` leaves it, weights changed."""
    bundle = space.folder / "tmp" / "bundle"
    result = space.invoke(["publish", space.run_ids["sft"], "--repo", "my-org/x", "--dry-run", "--out", str(bundle)])
    assert result.exit_code == 0, result.output
    storage = space.folder / "hf-tampered" / "models--my-org--x"
    snapshot = storage / "snapshots" / HUB_COMMIT
    shutil.copytree(bundle, snapshot)
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text(HUB_COMMIT)
    with (snapshot / "adapter_model.safetensors").open("ab") as weights:
        weights.write(b"\0")


# ------------------------------------------------------------------------------------------- tests


def _id(example: Example) -> str:
    return f"{example.source} {example.text}"


def test_the_docs_have_examples() -> None:
    kinds = [disposition(e)[0] for e in EXAMPLES]
    assert kinds.count("run") >= 20 and kinds.count("parse") >= 5, kinds
    assert any(e.source.startswith("README.md") and e.text == "rrg run recipes/demo/sft.yaml" for e in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=_id)
def test_every_example_parses(example: Example, workspace: Workspace) -> None:
    """Every example, executed or not, names real commands and options."""
    kind, _ = disposition(example)
    if kind == "synopsis":
        parse(synopsis_words(example.text), names_only=True)
    else:
        words, _ = split_command(example.text)
        parse(workspace.args(words))


RUN_EXAMPLES = [e for e in EXAMPLES if disposition(e)[0] == "run"]


@pytest.mark.parametrize("example", RUN_EXAMPLES, ids=_id)
def test_example_runs(example: Example, workspace: Workspace) -> None:
    words, redirect = split_command(example.text)
    args = workspace.args(words)
    result = workspace.invoke([*args, *demo_overrides(args)])
    shown = f"{example.source}: {example.text}\n{result.output}"
    if example.printed:
        assert result.exit_code == 2, shown
        printed = [workspace.as_documented(line) for line in result.output.splitlines()]
        for line in example.printed:
            assert hashes_hidden(line) in printed, f"{example.source}: the docs show\n{line}\nrrg printed\n{result.output}"
    else:
        assert result.exit_code == 0, shown
    if redirect:
        (workspace.folder / redirect).write_text(result.stdout)


@pytest.mark.parametrize("line", PRINTED_LINES, ids=lambda p: f"{p.source} {p.text[:60]}")
def test_printed_lines_match_rrg(line: PrintedLine, workspace: Workspace) -> None:
    """Every ``Error:``/``note:`` line in the docs is what rrg prints (checked with its command above,
    or here with the command in PRINTED)."""
    if line.after_command:
        return  # checked by test_example_runs
    if line.text in PRINTED_ELSEWHERE:
        asserted = (REPO / PRINTED_ELSEWHERE[line.text]).read_text(encoding="utf-8")
        assert line.text.replace("my-org/x", "my-org/demo-sft") in asserted
        return
    assert line.text in PRINTED, f"{line.source}: add the command that prints this line to PRINTED"
    if "radgraph" in line.text:
        pytest.importorskip("radgraph")
    words, hub_cache = PRINTED[line.text]
    result = workspace.invoke(workspace.args(list(words)), hub_cache)
    printed = [workspace.as_documented(out) for out in result.output.splitlines()]
    assert hashes_hidden(line.text) in printed, f"{line.source}: the docs show\n{line.text}\nrrg printed\n{result.output}"


def test_every_printed_example_is_in_the_docs() -> None:
    shown = {p.text for p in PRINTED_LINES}
    assert set(PRINTED) <= shown and set(PRINTED_ELSEWHERE) <= shown


@pytest.mark.slow
def test_readme_main_job_as_written(tmp_path: Path, xdg_cache_home: Path, demo_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's main job with the demo's own settings (minutes): ``rrg run recipes/demo/sft.yaml && rrg runs list``."""
    from rrg.cli import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg_cache_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("RRG_REGISTRY_URL", raising=False)
    shutil.copytree(REPO / "recipes", tmp_path / "recipes")
    readme = [e.text for e in EXAMPLES if e.source.startswith("README.md") and not e.inline]
    main_job = readme[:2]
    assert main_job == ["rrg run recipes/demo/sft.yaml", "rrg runs list"]
    for text in main_job:
        result = CliRunner().invoke(cli, split_command(text)[0])
        assert result.exit_code == 0, result.output
    assert "demo-sft@2" in result.output and "succeeded" in result.output
