"""The registered-model half of the registry store: versions, aliases and their history, errors,
concurrent registration from several processes (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing

import pytest

from rrg_registry import InvalidName, NotFound, Registry, RunNotFound

FILES = {"adapter_model.safetensors": "ab" * 32, "adapter_config.json": "cd" * 32}


def _register(registry: Registry, name: str = "iu-qwen", **kwargs):
    arguments = dict(
        base_model="Qwen/Qwen3-VL-4B-Instruct", base_revision="abc123", source="hub:org/adapter@r1",
        adapter_path="/models/iu-qwen", files=FILES,
    )
    arguments.update(kwargs)
    return registry.register_model_version(name, **arguments)


def test_versions_are_numbered_per_name_and_read_back(registry, factory):
    run = factory.run(status="succeeded", metrics={"green_flare": 0.81})
    first = _register(registry, run_id=run.id, source=f"run:{run.id}", results={"green_flare": 0.81, "ce": 0.9},
                      recipe_yaml="name: demo-sft\n", description="first")
    second = _register(registry, files={"adapter_model.safetensors": "ef" * 32})
    other = _register(registry, "mimic-model")
    assert (first.ref, second.ref, other.ref) == ("iu-qwen@1", "iu-qwen@2", "mimic-model@1")
    again = registry.get_model_version("iu-qwen", 1)
    assert again == first
    assert (again.run_id, again.source, again.files, again.results) == (run.id, f"run:{run.id}", FILES, {"green_flare": 0.81, "ce": 0.9})
    assert again.recipe_yaml == "name: demo-sft\n" and again.base_revision == "abc123" and again.aliases == ()
    assert registry.get_model_version("iu-qwen").version == 2
    assert registry.get_model_version("iu-qwen", "latest").version == 2
    assert registry.get_model_version("iu-qwen", "1").version == 1
    assert [v.version for v in registry.list_model_versions("iu-qwen")] == [1, 2]
    models = registry.list_registered_models()
    assert [(m.name, m.latest_version, m.aliases, m.description) for m in models] == [
        ("iu-qwen", 2, {}, "first"), ("mimic-model", 1, {}, None),
    ]


def test_links_to_external_models_and_dataset_versions(registry):
    from rrg_registry import DatasetSplit

    pulled = registry.record_external_model("org/adapter", "r1", "/cache/org-adapter")
    data, _ = registry.register_dataset_version(
        "iu", "/data", [DatasetSplit(flare_dataset="IU_XRay", category="Xray", split="validation-public", count=3,
                                     task_types=("Report_Generation",), fingerprint="f" * 64)]
    )
    version = _register(registry, external_model_id=pulled.id, dataset_version_id=data.id)
    assert (version.external_model_id, version.dataset_version_id) == (pulled.id, data.id)
    with pytest.raises(NotFound, match="no external model with id 999"):
        _register(registry, external_model_id=999)
    with pytest.raises(NotFound, match="no dataset version with id 999"):
        _register(registry, dataset_version_id=999)
    with pytest.raises(RunNotFound, match="no run 'deadbeef'"):
        _register(registry, run_id="deadbeef")
    assert [v.version for v in registry.list_model_versions("iu-qwen")] == [1]  # the refused ones left nothing


def test_aliases_move_and_their_history_is_kept(registry):
    for _ in range(3):
        _register(registry)
    made = registry.set_model_alias("iu-qwen", "production", 1, set_by="ana")
    assert (made.alias, made.version, made.set_by) == ("production", 1, "ana")
    registry.set_model_alias("iu-qwen", "candidate", 3, set_by="ben")
    registry.set_model_alias("iu-qwen", "production", 2, set_by="ben")
    registry.set_model_alias("iu-qwen", "production", 2, set_by="carl")  # already there: no event
    assert registry.get_model_version("iu-qwen", "production").version == 2
    assert registry.get_model_version("iu-qwen", 2).aliases == ("production",)
    assert registry.get_model_version("iu-qwen", 3).aliases == ("candidate",)
    assert registry.list_registered_models()[0].aliases == {"candidate": 3, "production": 2}
    deleted = registry.delete_model_alias("iu-qwen", "candidate", set_by="ana")
    assert (deleted.old_version, deleted.new_version) == (3, None)
    history = [(e.alias, e.old_version, e.new_version, e.set_by) for e in registry.alias_history("iu-qwen")]
    assert history == [
        ("production", None, 1, "ana"), ("candidate", None, 3, "ben"), ("production", 1, 2, "ben"), ("candidate", 3, None, "ana"),
    ]
    with pytest.raises(NotFound) as caught:
        registry.get_model_version("iu-qwen", "candidate")
    assert str(caught.value) == "model iu-qwen has no alias candidate (hint: versions: 1, 2, 3; aliases: production -> 2)"


@pytest.mark.parametrize("alias", ["12", "latest", "", "a b", "x@1"])
def test_alias_names_that_would_be_ambiguous_are_refused(registry, alias):
    _register(registry)
    with pytest.raises(InvalidName) as caught:
        registry.set_model_alias("iu-qwen", alias, 1, set_by="ana")
    assert "\n" not in str(caught.value) and "hint:" in str(caught.value)
    assert registry.alias_history("iu-qwen") == []


def test_unknown_names_versions_and_aliases_are_one_line_errors(registry):
    with pytest.raises(NotFound, match=r"no registered model named nope \(hint: no model is registered yet"):
        registry.get_model_version("nope")
    _register(registry)
    with pytest.raises(NotFound, match=r"no registered model named nope \(hint: registered models: iu-qwen\)"):
        registry.list_model_versions("nope")
    with pytest.raises(NotFound, match=r"model iu-qwen has no version 7 \(hint: versions: 1; aliases: none\)"):
        registry.get_model_version("iu-qwen", 7)
    with pytest.raises(NotFound, match=r"model iu-qwen has no version 4 \(hint: versions: 1\)"):
        registry.set_model_alias("iu-qwen", "production", 4, set_by="ana")
    with pytest.raises(NotFound, match=r"model iu-qwen has no alias gone \(hint: its aliases: none\)"):
        registry.delete_model_alias("iu-qwen", "gone", set_by="ana")
    with pytest.raises(InvalidName, match="'a@b' is not a valid model name"):
        _register(registry, "a@b")
    with pytest.raises(ValueError, match="metric green_flare is nan"):
        _register(registry, results={"green_flare": float("nan")})
    assert [m.latest_version for m in registry.list_registered_models()] == [1]


def _register_in_process(url: str, barrier, queue) -> None:
    with Registry.from_url(url) as registry:
        barrier.wait()
        queue.put(_register(registry, "shared").version)


def test_concurrent_registrations_from_several_processes_get_distinct_versions(registry_url):
    workers = 6
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(workers), context.Queue()
    processes = [context.Process(target=_register_in_process, args=(registry_url, barrier, queue)) for _ in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [p.exitcode for p in processes] == [0] * workers
    versions = sorted(queue.get(timeout=5) for _ in range(workers))
    assert versions == list(range(1, workers + 1))
    with Registry.from_url(registry_url) as registry:
        assert [v.version for v in registry.list_model_versions("shared")] == versions
        assert [m.name for m in registry.list_registered_models()] == ["shared"]
