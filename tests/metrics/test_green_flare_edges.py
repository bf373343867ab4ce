"""green_flare edge values (specification section 4.11) and behaviours the quirk list names."""

from __future__ import annotations

import pytest
from rrg.metrics import green_flare

# (prediction, reference, expected overall, other expected fields): the table of section 4.11.
EDGE_VALUES = [
    ("", "", 0.885, {"entity_matching": 1.0, "location_accuracy": 1.0, "negation_handling": 1.0,
                     "temporal_accuracy": 1.0, "measurement_accuracy": 1.0, "clinical_significance": 0.0,
                     "structure_completeness": 0.7}),
    ("", "No acute cardiopulmonary abnormality.", 0.81,
     {"temporal_accuracy": 0.25, "clinical_significance": 0.0, "structure_completeness": 0.7}),
    ("No acute cardiopulmonary abnormality.", "No acute cardiopulmonary abnormality.", 0.8750000000000001,
     {"clinical_significance": 0.0, "temporal_accuracy": 0.75}),
    ("No pneumothorax.", "Pneumothorax.", 0.79,
     {"entity_matching": 0.6, "negation_handling": 0.4, "severity_correlation": 0.5}),
    ("A 3.5 cm nodule in the left lower lobe.", "35 mm nodule in the left lower lobe.", 0.896,
     {"measurement_accuracy": 0.2, "entity_matching": 0.9199999999999999}),
    ("Mildly enlarged heart. New right effusion.", "Enlarged heart. Unchanged right effusion.", 0.9175, {}),
    ("Unlikely pneumonia.", "Possible pneumonia.", 0.9279999999999999, {"negation_handling": 0.68}),
]  # fmt: skip


@pytest.mark.parametrize(("prediction", "reference", "overall", "fields"), EDGE_VALUES)
def test_edge_values_of_the_specification(prediction, reference, overall, fields):
    result = green_flare.score_pair(prediction, reference)
    assert result.overall == overall
    for key, value in fields.items():
        assert getattr(result, key) == value, key


def test_normal_vs_normal_is_not_exactly_one():
    result = green_flare.score_pair("Heart size is normal.", "Normal cardiac contours.")
    assert result.entity_matching == 0.9999999999999999


def test_uncertainty_value_is_one_minus_confidence():
    analysis = green_flare.analyse_text("Probable pneumonia.")
    (mention,) = analysis.entities[11]
    assert mention.uncertainty == 1.0 - 0.7 == 0.30000000000000004


def test_word_bounded_terms_and_substring_modifiers():
    analysis = green_flare.analyse_text("Enlarged heart. Abnormal nodules. Collapsed.")
    names = {green_flare.ENTITY_TYPES[t].name for t in analysis.entities}
    assert "normal" not in names  # not inside "abnormal"
    assert "atelectasis" not in names  # "collapse" not inside "collapsed"
    (heart,) = analysis.entities[7]
    assert heart.severity == 2 * 0.8  # "large" inside "enlarged"


def test_overlapping_terms_are_all_counted():
    analysis = green_flare.analyse_text("Small pleural fluid. Pulmonary edema.")
    assert [m.term for m in analysis.entities[3]] == ["fluid", "pleural fluid"]
    assert [m.term for m in analysis.entities[8]] == ["edema", "pulmonary edema"]


def test_mentions_are_ordered_by_term_then_position():
    analysis = green_flare.analyse_text("Effusions. Effusion. Effusions. Fluid.")
    assert [(m.term, m.start) for m in analysis.entities[3]] == [
        ("effusion", 11), ("effusions", 0), ("effusions", 21), ("fluid", 32)
    ]  # fmt: skip


def test_size_is_cut_by_the_context_window():
    text = "12.5 cm " + "x" * 42 + " nodule"
    (mention,) = green_flare.analyse_text(text).entities[5]
    assert mention.size == "2.5 cm"


@pytest.mark.parametrize(
    ("text", "size"),
    [("2 x 3 cm nodule", "3 cm"), ("12 mmhg nodule", "12 mm"), ("1.2.3 cm nodule", "2.3 cm"),
     ("3 centimeters nodule", "3 centimeter"), ("\uff13 cm nodule", "\uff13 cm")],
)  # fmt: skip
def test_size_pattern(text, size):
    (mention,) = green_flare.analyse_text(text).entities[5]
    assert mention.size == size


def test_negation_window_crosses_sentences_and_respects_word_boundaries():
    result = green_flare.analyse_text("No pneumothorax. Small effusion.")
    assert result.entities[3][0].negated
    assert not green_flare.analyse_text("Cannot see an effusion.").entities[3][0].negated


def test_generated_entity_types_the_reference_lacks_cost_nothing():
    with_extra = green_flare.score_pair("Pneumothorax. Nodule.", "Pneumothorax.")
    assert (
        with_extra.entity_matching
        == green_flare.score_pair("Pneumothorax.", "Pneumothorax.").entity_matching
    )
    assert with_extra.entity_details.extra_entity_types == ("nodule",)


def test_structure_length_part():
    assert green_flare.score_pair("x" * 20, "y" * 10).structure_completeness == 0.7
    assert green_flare.score_pair("x" * 5, "y" * 10).structure_completeness == 0.7 + 0.5 * 0.3


def test_result_dict_has_the_reference_record_shape():
    record = green_flare.score_pair("No effusion.", "Small left effusion.").as_dict()
    assert list(record) == [*green_flare.SCORE_KEYS, "entity_details"]
    assert set(record["entity_details"]) == {
        "total_ref_entities", "total_gen_entities", "matched_entity_types",
        "missed_entity_types", "extra_entity_types",
    }  # fmt: skip


def test_lengths_must_pair_up():
    with pytest.raises(ValueError, match="must pair up"):
        green_flare.score_pairs(["a"], [])
