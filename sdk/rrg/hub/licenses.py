"""The licence a published adapter carries, derived from its base model's and its data's.

The rule (also in docs/hub.md):

1. The data's licence is the recipe's ``data.license``; without one, a data set rrg knows
   (``IU_XRay``: the Open-i Indiana University reports, CC BY-NC-ND 4.0) gives its own. An
   unknown data set without ``data.license`` cannot be published (``--data-license`` names it).
2. The base model's licence comes from :data:`BASE_MODEL_LICENSES` (the study's Hub checkpoints);
   a base model not listed there needs an explicit adapter licence (``publish.license`` or
   ``--license``).
3. Without an explicit licence the adapter gets: the base model's custom terms when it has them
   (``license: other`` with the base's ``license_name``/``license_link``: those terms govern
   derivatives), else ``cc-by-nc-4.0`` when the data or the base model is non-commercial, else
   the base model's licence.
4. An explicit licence is checked: it must keep a non-commercial term of the data or the base
   (a permissive id such as ``apache-2.0`` is refused), and it must be ``other`` when the base
   model has custom terms.

In every case the card states the data's licence and, when it is non-commercial, that the
adapter may not be used commercially (tag ``non-commercial``).
"""

from __future__ import annotations

from dataclasses import dataclass

from rrg.errors import RrgError


@dataclass(frozen=True)
class License:
    """A licence as the Hub's model card metadata names it."""

    id: str
    """Hub licence identifier (``apache-2.0``, ``cc-by-nc-4.0``, ``other``)."""
    name: str | None = None
    """``license_name`` when ``id`` is ``other``."""
    link: str | None = None
    """``license_link`` when ``id`` is ``other``."""
    non_commercial: bool = False
    title: str = ""
    """How the card's prose names it."""

    @property
    def custom(self) -> bool:
        return self.id == "other"

    def describe(self) -> str:
        return self.title or self.name or self.id


def known_license(license_id: str) -> License:
    """A licence from its Hub identifier; non-commercial when the id says so (``-nc``)."""
    if license_id in KNOWN_LICENSES:
        return KNOWN_LICENSES[license_id]
    return License(id=license_id, non_commercial="-nc" in license_id, title=license_id)


KNOWN_LICENSES: dict[str, License] = {
    "apache-2.0": License("apache-2.0", title="Apache-2.0"),
    "mit": License("mit", title="MIT"),
    "cc-by-4.0": License("cc-by-4.0", title="CC BY 4.0"),
    "cc-by-nc-4.0": License("cc-by-nc-4.0", non_commercial=True, title="CC BY-NC 4.0"),
    "cc-by-nc-sa-4.0": License("cc-by-nc-sa-4.0", non_commercial=True, title="CC BY-NC-SA 4.0"),
    "cc-by-nc-nd-4.0": License("cc-by-nc-nd-4.0", non_commercial=True, title="CC BY-NC-ND 4.0"),
}

_HAI_DEF = License(
    "other",
    name="health-ai-developer-foundations",
    link="https://developers.google.com/health-ai-developer-foundations/terms",
    title="Health AI Developer Foundations terms of use",
)
_QWEN_RESEARCH = License(
    "other",
    name="qwen-research",
    link="https://huggingface.co/Qwen/Qwen2.5-VL-3B-Instruct/blob/main/LICENSE",
    non_commercial=True,
    title="Qwen Research License",
)

BASE_MODEL_LICENSES: dict[str, License] = {
    "Qwen/Qwen2.5-VL-7B-Instruct": KNOWN_LICENSES["apache-2.0"],
    "Qwen/Qwen2.5-VL-3B-Instruct": _QWEN_RESEARCH,
    "Qwen/Qwen3-VL-4B-Instruct": KNOWN_LICENSES["apache-2.0"],
    "Qwen/Qwen3-VL-8B-Instruct": KNOWN_LICENSES["apache-2.0"],
    "google/medgemma-4b-it": _HAI_DEF,
    "google/medgemma-4b-pt": _HAI_DEF,
    "deepseek-ai/DeepSeek-OCR": KNOWN_LICENSES["mit"],
}
"""Licences of the base models rrg knows, as their Hub model cards declare them."""

DATASET_LICENSES: dict[str, str] = {
    "IU_XRay": "cc-by-nc-nd-4.0",
}
"""Licences of the data sets rrg knows (FLARE data set folder name → Hub licence id)."""

NON_COMMERCIAL_DEFAULT = KNOWN_LICENSES["cc-by-nc-4.0"]


@dataclass(frozen=True)
class LicenseDecision:
    """The adapter's licence and why."""

    adapter: License
    base: License | None
    data: License
    reason: str

    @property
    def non_commercial(self) -> bool:
        return (
            self.adapter.non_commercial
            or self.data.non_commercial
            or bool(self.base and self.base.non_commercial)
        )


def data_license(dataset: str, recipe_license: str | None, override: str | None = None) -> License:
    """The training data's licence: ``override``, else the recipe's ``data.license``, else the known one."""
    chosen = override or recipe_license or DATASET_LICENSES.get(dataset)
    if chosen is None:
        raise RrgError(
            f"data set {dataset}: no licence known (the recipe sets no data.license)",
            hint="name the data's licence with --data-license ID (a Hub licence id such as cc-by-4.0)",
        )
    return known_license(chosen)


def decide_license(base_model_id: str, data: License, requested: str | None) -> LicenseDecision:
    """Apply the rule in this module's docstring; ``requested`` is ``publish.license`` or ``--license``."""
    base = BASE_MODEL_LICENSES.get(base_model_id)
    restricted = data.non_commercial or bool(base and base.non_commercial)
    if requested is None:
        if base is None:
            raise RrgError(
                f"base model {base_model_id}: its licence is not known to rrg, so the adapter's cannot be derived",
                hint="name the adapter's licence with --license ID (or publish.license in the recipe)",
            )
        if base.custom:
            return LicenseDecision(
                base, base, data, f"the base model's {base.describe()} govern derivatives"
            )
        if restricted:
            source = (
                f"the data ({data.describe()})"
                if data.non_commercial
                else f"the base model ({base.describe()})"
            )
            return LicenseDecision(
                NON_COMMERCIAL_DEFAULT, base, data, f"{source} allows non-commercial use only"
            )
        return LicenseDecision(base, base, data, f"the base model's licence ({base.describe()})")
    chosen = known_license(requested)
    if restricted and not (chosen.non_commercial or chosen.custom):
        source = data.describe() if data.non_commercial else base.describe()  # type: ignore[union-attr]
        raise RrgError(
            f"licence {requested} would allow commercial use, but the adapter is trained from {source} material",
            hint=f"use a non-commercial licence such as {NON_COMMERCIAL_DEFAULT.id}, or leave the licence to rrg",
        )
    if base is not None and base.custom and not chosen.custom:
        raise RrgError(
            f"licence {requested}: the base model {base_model_id} is under its own terms ({base.describe()}), which derivatives keep",
            hint="leave the licence to rrg (it uses the base model's terms), or use --license other",
        )
    if chosen.custom:
        if base is None or not base.custom:
            raise RrgError(
                "licence other: custom terms need a name and a link, which rrg only knows for base models with their own terms",
                hint="name a Hub licence id such as cc-by-nc-4.0",
            )
        chosen = base
    return LicenseDecision(chosen, base, data, "requested (publish.license or --license)")
