"""Keyword findings and the negation rule, on sentences taken verbatim from the bundled reports."""

from __future__ import annotations

import json

import pytest
from rrg.data.findings import derive_findings, is_negated
from rrg.paths import BUNDLED_REPORTS

REPORT_TEXT = BUNDLED_REPORTS.read_text(encoding="utf-8")

NEGATED = [
    "No pneumothorax or pleural effusion.",
    "There are no XXXX of a pleural effusion.",
    "No focal consolidation, pneumothorax or large pleural effusion.",
    "No pleural effusion or pneumothorax is seen.",
    "The heart is not enlarged.",
    "The lungs are free of focal airspace disease.",
    "There is no focal air space opacity to suggest a pneumonia.",
    "Bony overlap in the lung apices could obscure a small pulmonary nodule.",
    "Evaluation for pneumothorax is limited due to exclusion of the superior-most pulmonary apices.",
    "Upper lobe airspace disease or pulmonary nodule is not entirely excluded.",
]

POSITIVE = [
    ("Cardiomegaly without superimposed acute disease noted.", {"heart": "enlarged"}),
    (
        "Borderline enlargement of the cardiac silhouette without acute pulmonary disease.",
        {"heart": "borderline"},
    ),
    ("Heart size is upper limits of normal.", {"heart": "borderline"}),
    ("Emphysema, however no acute cardiopulmonary finding.", {"hyperinflation": True}),
    ("Hyperexpanded but clear lungs.", {"hyperinflation": True}),
    (
        "No change in moderate left pneumothorax with left pleural drainage catheter again seen overlying the left upper lung.",
        {"pneumothorax": ["left"]},
    ),
    (
        "Small 3.3 mm right-sided pneumothorax only visible on the left lateral decubitus film.",
        {"pneumothorax": ["right"]},
    ),
    ("Small left pleural effusion.", {"effusions": [{"side": "left", "size": "small"}]}),
    (
        "Left basilar consolidation and pleural effusions seen.",
        {
            "effusions": [{"side": "left", "size": "small"}],
            "opacities": [{"side": "left", "zone": "lower"}],
        },
    ),
    ("Right upper lobe pneumonia.", {"opacities": [{"side": "right", "zone": "upper"}]}),
    (
        "Stable calcified granuloma within the right upper lung.",
        {"nodules": [{"side": "right", "zone": "upper"}]},
    ),
    ("Healed remote left 9th rib fracture.", {"fractures": ["left"]}),
    ("There are T-spine osteophytes.", {"degenerative_spine": True}),
    ("Midline sternotomy XXXX.", {"sternotomy": True}),
    ("Cholecystectomy clips are present.", {"surgical_clips": True}),
]


@pytest.mark.parametrize("sentence", NEGATED)
def test_negated_real_sentences_set_nothing(sentence: str):
    assert sentence in REPORT_TEXT
    findings = derive_findings(sentence, None)
    assert findings.is_normal, findings
    assert findings.evidence == {}


@pytest.mark.parametrize(("sentence", "expected"), POSITIVE)
def test_positive_real_sentences_set_their_finding(sentence: str, expected: dict):
    assert sentence in REPORT_TEXT
    findings = derive_findings(sentence, None)
    assert findings.model_dump(exclude={"evidence"}, exclude_defaults=True) == expected
    assert all(sentence in sentences for sentences in findings.evidence.values())


def test_negation_scope_ends_at_but_and_starts_at_the_cue():
    clause = "Stable cardiomegaly without pulmonary edema"
    assert not is_negated(clause, clause.index("cardiomegaly"), clause.index("cardiomegaly") + 12)
    assert is_negated(clause, clause.index("edema"), len(clause))
    findings = derive_findings("No pleural effusion but there is a left lower lobe opacity.", None)
    assert findings.effusions == [] and [(o.side, o.zone) for o in findings.opacities] == [
        ("left", "lower")
    ]


def test_a_normal_report_is_normal_and_cxr2_has_borderline_heart_and_sternotomy():
    reports = {r["uid"]: r for r in map(json.loads, REPORT_TEXT.splitlines())}
    normal = derive_findings(reports["CXR1"]["findings"], reports["CXR1"]["impression"])
    assert normal.is_normal and normal.cardiothoracic_ratio == 0.42
    cxr2 = derive_findings(reports["CXR2"]["findings"], reports["CXR2"]["impression"])
    assert cxr2.heart == "borderline" and cxr2.sternotomy
    assert cxr2.evidence["heart"] == ["Borderline cardiomegaly."]
