"""The JSON Schema export and the generated recipe reference in docs/."""

from __future__ import annotations

import json
from pathlib import Path

from rrg.recipe.reference import REGENERATE_COMMAND, render_reference
from rrg.recipe.schema import SECTION_MODELS, recipe_json_schema

DOC = Path(__file__).resolve().parents[2] / "docs" / "recipes.md"


def test_json_schema_is_json_with_every_section():
    schema = json.loads(json.dumps(recipe_json_schema()))
    assert schema["$schema"].endswith("2020-12/schema")
    assert set(SECTION_MODELS) | {"schema", "name", "version", "extends"} <= set(schema["properties"])
    assert set(schema["required"]) == {"schema", "name", "version", "model", "data", "stage"}
    assert schema["additionalProperties"] is False
    assert all(d.get("additionalProperties") is False for d in schema["$defs"].values() if d.get("type") == "object")
    assert schema["properties"]["adapter"]["discriminator"]["propertyName"] == "kind"


def test_every_schema_field_is_described():
    def walk(definition):
        for key, prop in definition.get("properties", {}).items():
            assert prop.get("description"), key

    schema = recipe_json_schema()
    walk(schema)
    for definition in schema["$defs"].values():
        walk(definition)


def test_committed_reference_matches_the_schema():
    expected = render_reference()
    assert DOC.read_text(encoding="utf-8") == expected, f"docs/recipes.md is stale; regenerate it with `{REGENERATE_COMMAND}`"


def test_reference_mentions_every_key():
    text = render_reference()
    for models in SECTION_MODELS.values():
        for model in models if isinstance(models, tuple) else (models,):
            for name, info in model.model_fields.items():
                assert f"| `{info.alias or name}` |" in text, name
