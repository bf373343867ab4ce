"""Versioned experiment recipes: schema, loading (``extends:`` and ``--set``), errors, identity.

Pure data: nothing here imports torch or a trainer library.

>>> from rrg.recipe import Recipe
>>> recipe = Recipe.load("demo/sft", overrides=["training.max_steps=10"])  # doctest: +SKIP
>>> recipe.ref, recipe.hash[:12], recipe.spec.training.learning_rate  # doctest: +SKIP
"""

from rrg.recipe.errors import RecipeError, RecipeProblem
from rrg.recipe.recipe import Recipe
from rrg.recipe.schema import SCHEMA_VERSION, RecipeSpec

__all__ = ["SCHEMA_VERSION", "Recipe", "RecipeError", "RecipeProblem", "RecipeSpec"]
