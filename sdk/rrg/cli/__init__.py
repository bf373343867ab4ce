"""The ``rrg`` command line.

Commands live one group per module under ``rrg.cli`` and are imported only when invoked, so
``rrg --help`` and every browsing command start without importing torch or transformers.
"""

from __future__ import annotations

import importlib
import logging

import click

from rrg.callstack import roomy_stack

# command name -> "module:attribute" (module relative to rrg.cli). One index for the whole CLI.
COMMANDS: dict[str, str] = {
    "check": "recipe:check",
    "recipe": "recipe:recipe",
    "recipes": "recipe:recipes",
    "score": "score:score",
    "data": "data:data",
    "datasets": "datasets:datasets",
    "runs": "runs:runs",
    "compare": "compare:compare",
    "table": "tables:table",
    "components": "tables:components",
    "samples": "samples:samples",
    "db": "db:db",
    "run": "run:run",
    "resume": "run:resume",
    "plan": "run:plan",
    "launch": "launch:launch",
    "card": "hub:card",
    "publish": "hub:publish",
    "pull": "hub:pull",
    "models": "models:models",
    "report": "report:report",
    "plot": "plot:plot",
}


class Interrupted(click.ClickException):
    """Ctrl-C (or SIGTERM during a run): one line and exit status 130, the shell's convention for
    SIGINT, instead of click's "Aborted!" with status 1."""

    exit_code = 130

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"Interrupted: {self.message}", file=file, err=True)


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use; Ctrl-C ends any of them with
    :class:`Interrupted`."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            cause = str(exc) or "Ctrl-C"
            run = getattr(exc, "rrg_run", None)
            if run is None:
                message = f"stopped by {cause}"
            else:
                run_id, recipe, stage = run
                again = f"rrg run {recipe}" if stage == "zero_shot" else f"rrg resume {run_id}"
                message = f"stopped by {cause}; run {run_id} ({recipe}) is recorded as interrupted (continue it: {again})"
            raise Interrupted(message) from None

    def __init__(self, *args, lazy_commands: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands:
            module_name, attr = self.lazy_commands[cmd_name].split(":")
            module = importlib.import_module(f"{__name__}.{module_name}")
            return getattr(module, attr)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rrg-sdk", prog_name="rrg")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """rrg: declarative chest X-ray report-generation experiments, a results registry, Hub publishing.

    \b
    Examples:
      rrg score pairs.jsonl                 score predictions against references
      rrg run recipes/demo/sft.yaml         train and evaluate a recipe
      rrg runs list --sort green_flare      browse the registry
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")


@roomy_stack  # every command's loops run at the same frame-stack depth (rrg.callstack)
def main() -> None:
    cli(prog_name="rrg")
