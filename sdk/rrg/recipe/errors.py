"""Recipe problems and the error that carries them.

A recipe can be wrong in many places at once; :class:`RecipeError` holds every
:class:`RecipeProblem` (file, line, key path, message, hint) and prints one line per problem,
``file:line: key.path: message (hint: ...)``, so a user fixes them all in one pass.

:class:`RecipeRefused` is the one exception: a recipe that is not read at all (hostile YAML, a file
over 1 MB, ``extends:`` naming something that is not a recipe) carries exactly one problem and
stops loading there; the CLI prints it as the single line ``Error: file:line: message (hint: ...)``.

:class:`RuleViolation` is what the schema's cross-field validators raise: pydantic keeps the
exception object in the error's context, and the loader turns each rule into a problem that points
at the key the rule is about rather than at the whole section.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from rrg.errors import RrgError


@dataclass(frozen=True)
class RecipeProblem:
    """One thing wrong with a recipe, located as precisely as the source allows.

    ``file`` is a path, ``registry:name@version`` for a recipe read from the registry, or
    ``--set key=value`` for a command-line override. ``line`` is 1-based, or ``None`` when the
    source has no lines (an override) or the problem concerns the file as a whole.
    """

    file: str
    line: int | None
    key: str
    message: str
    hint: str | None = None

    def format(self) -> str:
        """``file:line: key.path: message (hint: ...)``, leaving out the parts that are unknown."""
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.key:
            parts.append(self.key)
        text = self.message if not self.hint else f"{self.message} (hint: {self.hint})"
        parts.append(text)
        return ": ".join(parts)


class RecipeError(RrgError):
    """A recipe that cannot be loaded: every problem found, one per line. Exit status 2."""

    def __init__(self, problems: list[RecipeProblem]) -> None:
        if not problems:
            raise ValueError("RecipeError needs at least one problem")
        self.problems = list(problems)
        super().__init__("\n".join(p.format() for p in self.problems))

    def format_message(self) -> str:
        return self.message

    def show(self, file=None) -> None:  # noqa: D401 - click API
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        click.echo(f"Error: invalid recipe ({count} {noun}):", file=file, err=True)
        click.echo(self.message, file=file, err=True)


class RecipeRefused(RecipeError):
    """A recipe refused unread: one problem, no further checks, printed as one ``Error:`` line."""

    def __init__(self, problem: RecipeProblem) -> None:
        super().__init__([problem])

    @property
    def problem(self) -> RecipeProblem:
        return self.problems[0]

    def show(self, file=None) -> None:
        click.echo(f"Error: {self.problem.format()}", file=file, err=True)


@dataclass(frozen=True)
class Rule:
    """A broken cross-field rule: the key it is about (relative to the model), what, and the fix."""

    key: str
    message: str
    hint: str | None = None


class RuleViolation(ValueError):
    """Raised by a schema ``model_validator``: every rule of that model that failed."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = list(rules)
        super().__init__("; ".join(f"{r.key}: {r.message}" for r in self.rules))


def raise_broken(rules: list[Rule]) -> None:
    """Raise :class:`RuleViolation` when ``rules`` is not empty."""
    if rules:
        raise RuleViolation(rules)
