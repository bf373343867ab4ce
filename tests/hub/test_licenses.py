"""The adapter licence rule (rrg.hub.licenses; docs/hub.md)."""

from __future__ import annotations

import pytest
from rrg.errors import RrgError
from rrg.hub.licenses import data_license, decide_license

IU = data_license("IU_XRay", None)


def test_iu_xray_reports_are_cc_by_nc_nd() -> None:
    assert IU.id == "cc-by-nc-nd-4.0"
    assert IU.non_commercial


def test_recipe_data_license_wins_over_the_known_one() -> None:
    assert data_license("IU_XRay", "cc-by-4.0").id == "cc-by-4.0"
    assert data_license("IU_XRay", "cc-by-4.0", override="mit").id == "mit"


def test_unknown_data_set_without_a_licence_is_refused() -> None:
    with pytest.raises(RrgError, match="MIMIC_CXR: no licence known") as caught:
        data_license("MIMIC_CXR", None)
    assert "--data-license" in caught.value.hint


def test_permissive_base_and_non_commercial_data_give_cc_by_nc() -> None:
    decision = decide_license("Qwen/Qwen3-VL-4B-Instruct", IU, None)
    assert decision.adapter.id == "cc-by-nc-4.0"
    assert decision.non_commercial
    assert "CC BY-NC-ND 4.0" in decision.reason


def test_permissive_base_and_permissive_data_keep_the_base_licence() -> None:
    decision = decide_license("deepseek-ai/DeepSeek-OCR", data_license("X", "cc-by-4.0"), None)
    assert decision.adapter.id == "mit"
    assert not decision.non_commercial


def test_custom_base_terms_travel_with_the_adapter() -> None:
    decision = decide_license("google/medgemma-4b-it", IU, None)
    assert (decision.adapter.id, decision.adapter.name) == (
        "other",
        "health-ai-developer-foundations",
    )
    assert decision.adapter.link.startswith("https://")
    assert decision.non_commercial  # the data's term still applies


def test_a_commercial_licence_is_refused_for_non_commercial_data() -> None:
    with pytest.raises(RrgError, match="apache-2.0 would allow commercial use"):
        decide_license("Qwen/Qwen3-VL-4B-Instruct", IU, "apache-2.0")


def test_a_non_commercial_request_is_accepted() -> None:
    assert (
        decide_license("Qwen/Qwen3-VL-4B-Instruct", IU, "cc-by-nc-sa-4.0").adapter.id
        == "cc-by-nc-sa-4.0"
    )


def test_custom_base_terms_cannot_be_replaced() -> None:
    with pytest.raises(RrgError, match="its own terms"):
        decide_license("google/medgemma-4b-it", IU, "cc-by-nc-4.0")


def test_unknown_base_needs_an_explicit_licence() -> None:
    with pytest.raises(RrgError, match="not known to rrg") as caught:
        decide_license("someone/new-vlm", IU, None)
    assert "--license" in caught.value.hint
    assert decide_license("someone/new-vlm", IU, "cc-by-nc-4.0").adapter.id == "cc-by-nc-4.0"
