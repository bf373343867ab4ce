"""Hostile recipes: alias bombs, recursive aliases, deep nesting, huge files, language tags and
``extends:`` pointing at files that are not recipes. Each is refused in well under a second with one
line naming the file and the line, and nothing of a non-recipe parent is ever printed.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rrg.cli import cli
from rrg.recipe import Recipe, RecipeError
from rrg.recipe.yaml_source import MAX_ALIAS_VALUES, MAX_DEPTH, MAX_RECIPE_BYTES, MAX_VALUES

VALID = "schema: 1\nname: ok\nversion: 1\nmodel:\n  family: qwen3_vl\n  id: tiny\ndata:\n  root: demo\nstage:\n  kind: zero_shot\n"

# Nine levels of nine aliases each: under 400 bytes that PyYAML alone expands to 9**9 strings.
LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
)
SECRET = "root:$6$TOPSECRET-hash-7f3a9c$:19000:0:99999:7:::"


@pytest.fixture
def runner(tmp_path, monkeypatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RRG_REGISTRY_URL", raising=False)
    return CliRunner()


def refused(runner: CliRunner, command: str, file: str, at: str | None = None) -> tuple[str, float]:
    """Run ``rrg <command> <file>``: exit status 2 and exactly one line about the recipe, naming
    ``at`` (default ``file``) first.

    ``plan`` prints it as ``Error: ...``; ``check`` prints the problem line itself (then its
    ``N of M recipes invalid`` summary). Returns the line and the wall time of the command.
    """
    at = at or file
    start = time.perf_counter()
    result = runner.invoke(cli, [command, file])
    elapsed = time.perf_counter() - start
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    if command == "check":
        assert lines[1:] == ["1 of 1 recipes invalid"], result.output
        line = lines[0]
        assert line.startswith(at + ":"), line
    else:
        assert len(lines) == 1, result.output
        line = lines[0]
        assert line.startswith(f"Error: {at}:"), line
    assert "(hint: " in line and line.endswith(")"), line
    return line, elapsed


@pytest.mark.parametrize("command", ["check", "plan"])
def test_billion_laughs_is_refused_at_once(runner, command):
    assert len(LAUGHS.encode()) < 400
    Path("laughs.yaml").write_text(LAUGHS)
    line, elapsed = refused(runner, command, "laughs.yaml")
    assert elapsed < 1.0
    assert "laughs.yaml:4: " in line and f"more than {MAX_ALIAS_VALUES:,} values" in line


@pytest.mark.parametrize("command", ["check", "plan"])
@pytest.mark.parametrize("text", ["a: &a [*a]\n", "schema: 1\nmodel: &m\n  family: qwen3_vl\n  inner: *m\n"], ids=["sequence", "mapping"])
def test_recursive_alias_is_refused_at_once(runner, command, text):
    Path("loop.yaml").write_text(text)
    line, elapsed = refused(runner, command, "loop.yaml")
    assert elapsed < 1.0
    expected_line = text.count("\n")
    assert f"loop.yaml:{expected_line}: " in line and "recursive alias" in line


@pytest.mark.parametrize("command", ["check", "plan"])
def test_deep_nesting_is_refused(runner, command):
    Path("deep.yaml").write_text("a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    line, elapsed = refused(runner, command, "deep.yaml")
    assert elapsed < 1.0
    assert "deep.yaml:1: " in line and f"deeper than {MAX_DEPTH} levels" in line


def test_nesting_through_aliases_counts_the_expanded_depth(runner):
    nested = "[" * (MAX_DEPTH - 3) + "1" + "]" * (MAX_DEPTH - 3)
    Path("deep.yaml").write_text(f"a: &a {nested}\nb: [[[[*a]]]]\n")
    line, _ = refused(runner, "check", "deep.yaml")
    assert "deep.yaml:2: " in line and f"deeper than {MAX_DEPTH} levels" in line


@pytest.mark.parametrize("command", ["check", "plan"])
def test_too_many_values_are_refused_at_once(runner, command):
    Path("wide.yaml").write_text("tags: [" + ", ".join(["x"] * (MAX_VALUES + 10)) + "]\n")
    line, elapsed = refused(runner, command, "wide.yaml")
    assert elapsed < 1.0
    assert "wide.yaml:1: " in line and f"more than {MAX_VALUES:,} values" in line


@pytest.mark.parametrize("command", ["check", "plan"])
def test_a_file_over_one_megabyte_is_refused_unread(runner, command):
    Path("big.yaml").write_text(VALID + "#" * MAX_RECIPE_BYTES + "\n")
    line, elapsed = refused(runner, command, "big.yaml")
    assert elapsed < 1.0
    assert "larger than 1 MB" in line


@pytest.mark.parametrize("command", ["check", "plan"])
@pytest.mark.parametrize(
    ("value", "tag", "line_no"),
    [
        ('!!python/object/apply:os.system ["echo pwned"]', "!!python/object/apply:os.system", 11),
        ("!!python/object/apply:os.system\n  args: [echo pwned]", "!!python/object/apply:os.system", 11),
        ("!!python/name:os.system", "!!python/name:os.system", 11),
        ("!foo [a, b]", "!foo", 11),
        ("!foo {a: b}", "!foo", 11),
        ("!foo text", "!foo", 11),
        ("[a, !!python/object/new:os.system [x]]", "!!python/object/new:os.system", 11),
        ("!!binary aGVsbG8=", "!!binary", 11),
    ],
    ids=["apply-sequence", "apply-mapping", "name-scalar", "foo-sequence", "foo-mapping", "foo-scalar", "nested", "binary"],
)
def test_non_standard_tags_are_refused_wherever_they_stand(runner, command, value, tag, line_no):
    Path("tagged.yaml").write_text(VALID + f"description: {value}\n")
    line, _ = refused(runner, command, "tagged.yaml")
    assert f"tagged.yaml:{line_no}: " in line and repr(tag) in line


def test_a_tag_on_a_top_level_key_is_refused(runner):
    Path("tagged.yaml").write_text(VALID.replace("model:", "model: !!python/object:rrg.Evil"))
    line, _ = refused(runner, "check", "tagged.yaml")
    assert "tagged.yaml:4: " in line and "'!!python/object:rrg.Evil'" in line


def test_standard_tags_and_small_aliases_still_load(tmp_path):
    text = VALID.replace("name: ok", "name: !!str ok").replace("version: 1", "version: !!int 1")
    text = text.replace("data:\n  root: demo\n", "data: &data\n  root: demo\n")
    text += "description: &d shared\ntags: [*d, ! b]\n"
    path = tmp_path / "fine.yaml"
    path.write_text(text)
    spec = Recipe.load(path).spec
    assert (spec.name, spec.version, spec.description, list(spec.tags)) == ("ok", 1, "shared", ["shared", "b"])


def test_a_tag_in_a_set_value_is_refused(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(VALID)
    with pytest.raises(RecipeError) as caught:
        Recipe.load(path, overrides=["description=!!python/object/apply:os.system [echo pwned]"])
    (problem,) = caught.value.problems
    assert problem.file.startswith("--set ") and "'!!python/object/apply:os.system'" in problem.message


@pytest.mark.parametrize("command", ["check", "plan"])
def test_extends_of_a_file_that_is_not_yaml_is_refused_without_reading_it(runner, tmp_path, command):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "shadow").write_text(SECRET + "\nbin:*:19000:0:99999:7:::\n")
    (tmp_path / "a" / "b").mkdir(parents=True)
    Path("a/b/child.yaml").write_text("schema: 1\nname: child\nversion: 1\nextends: ../../etc/shadow\n")
    line, _ = refused(runner, command, "a/b/child.yaml")
    assert "a/b/child.yaml:4: extends: " in line and "not a recipe" in line
    assert "TOPSECRET" not in line and "root:" not in line


@pytest.mark.parametrize("command", ["check", "plan"])
@pytest.mark.parametrize(
    "parent",
    [
        SECRET + "\n",  # a plain string, not a mapping
        f"password: {SECRET}\ntoken: TOPSECRET-token\n",  # a mapping, but not of recipe sections
        f"schema: 1\napi_key: {SECRET}\n",  # has schema:, but a key that is no recipe section
        f"data:\n  password: '{SECRET}'\n",  # a recipe section, but no schema:
        f"- {SECRET}\n- TOPSECRET\n",  # a list
        f"password: '{SECRET}\n  unterminated: [TOPSECRET\n",  # not valid YAML
        "key: *TOPSECRET\n",  # an undefined alias, whose name PyYAML would echo
    ],
    ids=["string", "mapping", "extra-key", "no-schema", "list", "invalid-yaml", "alias"],
)
def test_extends_of_a_yaml_file_that_is_not_a_recipe_echoes_nothing(runner, tmp_path, command, parent):
    (tmp_path / "secrets.yaml").write_text(parent)
    Path("child.yaml").write_text("schema: 1\nextends: secrets.yaml\nname: child\nversion: 1\n")
    line, _ = refused(runner, command, "child.yaml")
    assert "child.yaml:2: extends: " in line and "not a recipe" in line
    assert "TOPSECRET" not in line and "password" not in line and "api_key" not in line


@pytest.mark.parametrize("command", ["check", "plan"])
def test_a_tag_in_a_base_is_refused_without_quoting_it(runner, tmp_path, command):
    # A tag is text of the file: `password: !TOPSECRET` would leak through the tag's name.
    (tmp_path / "secrets.yaml").write_text("user: admin\npassword: !TOPSECRET-tag value\n")
    Path("child.yaml").write_text("schema: 1\nextends: secrets.yaml\nname: child\nversion: 1\n")
    line, _ = refused(runner, command, "child.yaml", at="secrets.yaml")
    assert "secrets.yaml:2: " in line and "tag" in line
    assert "TOPSECRET" not in line and "password" not in line and "admin" not in line


def test_extends_of_a_folder_is_refused(runner, tmp_path):
    (tmp_path / "sub").mkdir()
    Path("child.yaml").write_text("schema: 1\nextends: sub\nname: child\nversion: 1\n")
    line, _ = refused(runner, "check", "child.yaml")
    assert "child.yaml:2: extends: " in line and "not a recipe" in line


def test_a_hostile_base_recipe_is_refused_too(runner, tmp_path):
    (tmp_path / "base.yaml").write_text(LAUGHS)
    Path("child.yaml").write_text("schema: 1\nextends: base.yaml\nname: child\nversion: 1\n")
    start = time.perf_counter()
    line, _ = refused(runner, "plan", "child.yaml", at="base.yaml")
    assert time.perf_counter() - start < 1.0
    assert "base.yaml:4: " in line


def test_a_recipe_base_with_an_error_still_reports_it_in_the_base(runner, tmp_path):
    (tmp_path / "base.yaml").write_text(VALID.replace("kind: zero_shot", "kind: zeroshot"))
    Path("child.yaml").write_text("schema: 1\nextends: base.yaml\nname: child\nversion: 1\n")
    result = runner.invoke(cli, ["check", "child.yaml"])
    assert result.exit_code == 2
    assert result.stdout.startswith("base.yaml:10: stage.kind: unknown kind 'zeroshot'")


@pytest.mark.parametrize("command", ["check", "plan", "run"])
def test_a_real_rrg_process_answers_a_bomb_within_a_second(command: str, tmp_path) -> None:
    # the whole process, imports included; `rrg run` reads the recipe before it imports the
    # training stack or creates a registry file
    import subprocess
    import sys

    (tmp_path / "laughs.yaml").write_text(LAUGHS)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", "from rrg.cli import main; main()", command, "laughs.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )
    elapsed = time.perf_counter() - start
    assert result.returncode == 2, result.stderr
    assert "laughs.yaml:" in (result.stdout + result.stderr) and "Traceback" not in result.stderr
    assert elapsed < 1.5, elapsed  # a process start plus the refusal (0.2-0.3 s here)
    assert not (tmp_path / "rrg.db").exists()
