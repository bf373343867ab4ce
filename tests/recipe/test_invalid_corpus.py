"""Every malformed recipe under ``invalid/`` fails with exactly the problems its header announces.

Each corpus file starts with a comment saying what is wrong, optional ``# set: key=value`` lines
(command-line overrides) and one ``# expect: FILE:LINE: key.path: message`` line per problem,
where FILE is relative to ``invalid/``. An expect line must be a prefix of the reported line, and
the file must report no other problem. ``invalid/bases/`` holds the bases some of them extend.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rrg.recipe import Recipe, RecipeError
from rrg.recipe.errors import RecipeProblem

INVALID = Path(__file__).parent / "invalid"
CASES = sorted(INVALID.glob("*.yaml"))


def _header(path: Path, tag: str) -> list[str]:
    prefix = f"# {tag}: "
    return [line[len(prefix):] for line in path.read_text().splitlines() if line.startswith(prefix)]


def _relative(problem: RecipeProblem) -> str:
    """The problem line with its file relative to the corpus folder."""
    file = problem.file
    if not file.startswith("--set "):
        file = Path(file).resolve().relative_to(INVALID.resolve()).as_posix()
    return RecipeProblem(file, problem.line, problem.key, problem.message, problem.hint).format()


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_invalid_recipe_reports_expected_problems(path: Path):
    expected = _header(path, "expect")
    assert expected, f"{path.name} has no '# expect:' line"
    with pytest.raises(RecipeError) as caught:
        Recipe.load(path, overrides=_header(path, "set"))
    reported = [_relative(p) for p in caught.value.problems]
    assert len(reported) == len(expected), "\n".join(reported)
    for line in expected:
        assert any(r.startswith(line) for r in reported), f"expected: {line}\nreported:\n" + "\n".join(reported)
