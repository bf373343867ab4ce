"""``rrg card``, ``rrg publish`` and ``rrg pull``: model cards and the Hugging Face Hub.

Thin wrappers over :mod:`rrg.hub`; see docs/hub.md.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import click

from rrg.cli.output import emit_mapping, emit_rows, output_options
from rrg.cli.registry_option import registry_option
from rrg.errors import RrgError

LICENSE_HELP = "Licence of the adapter (a Hub licence id); default: derived from the base model's and the data's (docs/hub.md)."
DATA_LICENSE_HELP = "Licence of the training data (a Hub licence id), for data sets rrg does not know and recipes without data.license."


def _destination(registry, run_id: str, repo: str | None, private: bool | None) -> tuple[str, bool]:
    """``--repo``/``--private`` or, when not given, the recipe's ``publish`` section."""
    from rrg.recipe import Recipe

    spec = Recipe.from_yaml(registry.get_run(run_id).recipe.yaml_text).spec
    section = spec.publish
    if repo is None:
        if section is None:
            raise RrgError(
                f"run {run_id}: no --repo given and its recipe has no publish.repo",
                hint="pass --repo org/name",
            )
        repo = section.repo
    if private is None:
        private = section.private if section is not None else True
    return repo, private


def _run_or_model(registry, ref: str):
    """RUN (id or prefix) -> (run id, None); ``model:NAME@VERSION|ALIAS`` -> (its run, the version),
    its files verified."""
    if ref.startswith("model:"):
        from rrg.hub.publish import registered_run

        return registered_run(registry, ref)
    return registry.resolve_run_id(ref), None


@click.command("card")
@click.argument("run_id", metavar="RUN|model:NAME@VERSION")
@click.option(
    "--repo",
    default=None,
    metavar="ORG/NAME",
    help="Hub repository the card is for (default: the recipe's publish.repo, else your-org/<recipe name>).",
)
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the card to FILE instead of stdout.",
)
@click.option("--license", "license_id", default=None, metavar="ID", help=LICENSE_HELP)
@click.option(
    "--data-license", "data_license_id", default=None, metavar="ID", help=DATA_LICENSE_HELP
)
@click.option(
    "--template", default="adapter", show_default=True, help="Card template under cards/."
)
@registry_option
def card(
    run_id: str,
    repo: str | None,
    output: Path | None,
    license_id: str | None,
    data_license_id: str | None,
    template: str,
    registry,
) -> None:
    """Render the model card of RUN, or of a registered model version (validated, not published).

    \b
    Examples:
      rrg card 3fa2                       print the card
      rrg card 3fa2 -o README.md --repo my-org/qwen3-vl-4b-iu-xray-sft
      rrg card model:iu-report@paper
    """
    from rrg.hub.card import render_card
    from rrg.hub.publish import check_repo_id
    from rrg.hub.run_record import publishable_run

    run_id, registered = _run_or_model(registry, run_id)
    record = publishable_run(registry, run_id, registered)
    if repo is None:
        publish = record.spec.publish
        repo = publish.repo if publish is not None else f"your-org/{record.detail.recipe.name}"
    rendered = render_card(
        record,
        check_repo_id(repo),
        template=template,
        license=license_id,
        data_license_id=data_license_id,
    )
    if output is None:
        click.echo(rendered.text, nl=False)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(rendered.text, encoding="utf-8")
    except OSError as exc:
        raise RrgError(
            f"cannot write the card to {output}: {exc.strerror}",
            hint="give -o a file path in a writable folder",
        ) from exc
    click.echo(
        f"wrote {output} (licence {rendered.license.adapter.id}: {rendered.license.reason})",
        err=True,
    )


@click.command("publish")
@click.argument("run_id", metavar="RUN|model:NAME@VERSION")
@click.option(
    "--repo",
    default=None,
    metavar="ORG/NAME",
    help="Hub model repository (default: the recipe's publish.repo).",
)
@click.option(
    "--private/--public",
    "private",
    default=None,
    help="Visibility of a new repository (default: private, or the recipe's publish.private).",
)
@click.option(
    "--revision",
    default=None,
    metavar="BRANCH",
    help="Branch to commit to (created if missing; default main).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Assemble and validate the folder, list it and stop: no network.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the assembled folder in DIR.",
)
@click.option("--license", "license_id", default=None, metavar="ID", help=LICENSE_HELP)
@click.option(
    "--data-license", "data_license_id", default=None, metavar="ID", help=DATA_LICENSE_HELP
)
@output_options
@registry_option
def publish(
    run_id: str,
    repo: str | None,
    private: bool | None,
    revision: str | None,
    dry_run: bool,
    out_dir: Path | None,
    license_id: str | None,
    data_license_id: str | None,
    output_format: str,
    registry,
) -> None:
    """Upload RUN's adapter, model card, recipe and results to a Hub repository in one commit.

    Instead of RUN, model:NAME@VERSION or model:NAME@ALIAS publishes a registered model version
    (the run behind it, its files checked against their registered sha256); the card names it.
    The token comes from HF_TOKEN or `hf auth login`; it is never stored. Publishing the same
    run again makes no new commit and no second record.

    \b
    Examples:
      rrg publish 3fa2 --repo my-org/qwen3-vl-4b-iu-xray-sft --dry-run
      rrg publish 3fa2 --repo my-org/qwen3-vl-4b-iu-xray-sft
      rrg publish 3fa2 --repo my-org/qwen3-vl-4b-iu-xray-sft --public --revision v1
      rrg publish model:iu-report@paper --repo my-org/qwen3-vl-4b-iu-xray-sft
    """
    from rrg.hub.publish import prepare_publication, publish_run

    run_id, registered = _run_or_model(registry, run_id)
    repo, private = _destination(registry, run_id, repo, private)
    if dry_run:
        folder = out_dir if out_dir is not None else Path(tempfile.mkdtemp(prefix="rrg-publish-"))
        bundle = prepare_publication(
            registry,
            run_id,
            repo,
            folder,
            private=private,
            license=license_id,
            data_license_id=data_license_id,
            registered_model=registered,
        )
        rows = bundle.listing()
        if output_format == "json":
            emit_rows(
                rows,
                output_format,
                json_data={
                    "model": registered.ref if registered is not None else None,
                    "repo": repo,
                    "private": private,
                    "folder": str(bundle.folder),
                    "card": str(bundle.card_path),
                    "license": bundle.card.license.adapter.id,
                    "files": rows,
                },
            )
            return
        emit_rows(
            rows,
            output_format,
            columns=["file", "bytes", "sha256"],
            title=f"{repo} ({'private' if private else 'public'}), not uploaded",
        )
        if output_format == "table":
            click.echo(f"folder: {bundle.folder}")
            click.echo(f"card: {bundle.card_path}")
            click.echo(f"licence: {bundle.card.license.adapter.id} ({bundle.card.license.reason})")
        return
    result = publish_run(
        registry,
        run_id,
        repo,
        private=private,
        revision=revision,
        license=license_id,
        data_license_id=data_license_id,
        out_dir=out_dir,
        registered_model=registered,
    )
    if result.new_commit:
        status = "uploaded"
    elif result.recorded:
        status = "unchanged on the Hub; publication recorded"
    else:
        status = "unchanged: already published at this commit"
    emit_mapping(
        {
            "run": run_id,
            **({"model": registered.ref} if registered is not None else {}),
            "repo": repo,
            "private": private,
            "revision": result.revision,
            "url": result.url,
            "status": status,
            "files": len(result.bundle.files),
        },
        output_format,
    )


RUN_PULL_REF = re.compile(r"^(?:run:)?(?P<run>[0-9a-fA-F]+)(?:@checkpoint-(?P<step>\d+))?$")
"""``rrg pull``'s argument when it names a run (an id or prefix, hexadecimal, with no ``/``)
rather than a Hub repository ``org/name``."""


@click.command("pull")
@click.argument("repo", metavar="ORG/NAME[@REV] | RUN[@checkpoint-STEP]")
@click.option(
    "--revision", default=None, metavar="REV", help="Branch, tag or commit (default: main)."
)
@click.option(
    "--all", "every", is_flag=True, help="For a run: every recorded checkpoint, not only the adapter it handed on."
)
@click.option(
    "--logs", is_flag=True, help="For a run: its tracker logs (logging.report_to: TensorBoard, W&B offline, trackio) instead of checkpoints."
)
@output_options
@registry_option
def pull(repo: str, revision: str | None, every: bool, logs: bool, output_format: str, registry) -> None:
    """Download a published adapter into the Hugging Face cache, verify it and register it; or
    fetch a run's checkpoints from its artefacts URL into the local cache and verify them.

    Works offline (HF_HUB_OFFLINE=1) when the cache already holds the snapshot. Evaluate it with a
    recipe that sets `model.adapter: hub:ORG/NAME@REV`. A RUN (an id or unique prefix) is fetched
    from the shared storage its checkpoints were uploaded to (rrg run --artifacts): every file is
    checked against the run's manifest and the manifest against the registry; evaluate it with
    `model.adapter: run:RUN`.

    \b
    Examples:
      rrg pull my-org/qwen3-vl-4b-iu-xray-sft
      rrg pull my-org/qwen3-vl-4b-iu-xray-sft --revision v1
      rrg pull 3fa2                        the adapter run 3fa2 handed on
      rrg pull 3fa2@checkpoint-200         one recorded checkpoint
      rrg pull 3fa2 --all                  every recorded checkpoint
      rrg pull 3fa2 --logs                 its TensorBoard/W&B/trackio logs (tensorboard --logdir PATH)
    """
    run_ref = RUN_PULL_REF.match(repo)
    if logs and (run_ref is None or run_ref["step"] or every):
        raise click.UsageError("--logs takes a run alone (RUN, without @checkpoint-STEP or --all)")
    if run_ref is not None:
        if revision is not None:
            raise click.UsageError(f"--revision is for a Hub repository; {repo} names a run")
        if logs:
            _pull_logs(registry, run_ref["run"], output_format)
            return
        _pull_run(registry, run_ref["run"], int(run_ref["step"]) if run_ref["step"] else None, every, output_format)
        return
    if every:
        raise click.UsageError(f"--all is for a run; {repo} names a Hub repository")
    from rrg.hub.pull import pull_adapter

    if "@" in repo:
        repo, _, inline = repo.partition("@")
        if revision is not None and revision != inline:
            raise click.UsageError(f"two revisions given: @{inline} and --revision {revision}")
        revision = inline
    pulled = pull_adapter(repo, revision=revision, registry=registry)
    emit_mapping(
        {
            "repo": pulled.repo,
            "revision": pulled.revision,
            "path": str(pulled.path),
            "external_model": pulled.external_model_id,
            "verified_files": pulled.verified_files,
            "recipe": "recorded" if pulled.recipe_yaml else "none in the repository",
            "adapter_ref": pulled.ref,
        },
        output_format,
    )


def _pull_logs(registry, run_ref: str, output_format: str) -> None:
    from rrg.artifacts import pull_logs

    pulled = pull_logs(registry, run_ref)
    emit_mapping(
        {"run": pulled.run_id, "files": pulled.files, "bytes": pulled.bytes, "url": pulled.url, "path": str(pulled.path)},
        output_format,
        title=f"run {pulled.run_id}: tracker logs fetched and verified",
    )


def _pull_run(registry, run_ref: str, step: int | None, every: bool, output_format: str) -> None:
    from rrg.artifacts import pull_run

    if step is not None and every:
        raise click.UsageError("name one checkpoint or pass --all, not both")
    pulled = pull_run(registry, run_ref, step=step, every=every)
    rows = [
        {
            "run": p.run_id,
            "checkpoint": f"checkpoint-{p.step}",
            "best": p.best,
            "files": p.files,
            "bytes": p.bytes,
            "url": p.url,
            "path": str(p.path),
            "adapter_ref": p.ref,
        }
        for p in pulled
    ]
    emit_rows(rows, output_format, columns=["checkpoint", "best", "files", "bytes", "path", "adapter_ref"], title=f"run {pulled[0].run_id}: fetched and verified")
