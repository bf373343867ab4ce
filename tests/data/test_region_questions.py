"""Verbatim sentence splitting and region questions."""

from __future__ import annotations

import json

from rrg.data.regions import (
    FINDINGS_QUESTION,
    IMPRESSION_QUESTION,
    REGION_QUESTIONS,
    region_questions,
    sentence_regions,
)
from rrg.data.sentences import sentence_spans, split_sentences
from rrg.paths import BUNDLED_REPORTS


def test_sentences_are_verbatim_slices_including_glued_and_numbered_ones():
    text = "There are irregular opacities in the left lung apex.There are streaky opacities.  1. Bullous emphysema. 2. Size 1.5 cm"
    assert split_sentences(text) == [
        "There are irregular opacities in the left lung apex.",
        "There are streaky opacities.",
        "1. Bullous emphysema.",
        "2. Size 1.5 cm",
    ]
    assert all(text[a:b] == s for (a, b), s in zip(sentence_spans(text), split_sentences(text)))


def test_every_bundled_findings_sentence_is_a_slice_of_its_report():
    for line in BUNDLED_REPORTS.read_text(encoding="utf-8").splitlines():
        findings = json.loads(line)["findings"]
        for start, end in sentence_spans(findings):
            assert findings[start:end].strip() == findings[start:end] != ""


def test_region_keywords_on_real_sentences():
    assert sentence_regions(
        "The cardiac silhouette and mediastinum size are within normal limits."
    ) == ["heart", "mediastinum"]
    assert sentence_regions("No pneumothorax or pleural effusion.") == ["pleura"]
    assert sentence_regions("The lungs are clear.") == ["lungs"]
    assert sentence_regions("Thoracic spondylosis.") == ["bones"]
    assert (
        sentence_regions("No acute osseus abnormality.") == []
    )  # misspelt in the report: left to the findings answer
    assert sentence_regions("The heart and lungs have XXXX XXXX in the interval.") == [
        "heart",
        "lungs",
    ]


def test_cxr1_questions_answer_with_its_own_sentences_and_skip_bones():
    report = json.loads(BUNDLED_REPORTS.read_text(encoding="utf-8").splitlines()[0])
    assert report["uid"] == "CXR1"
    questions = {q.region: q for q in region_questions(report["findings"], report["impression"])}
    assert list(questions) == ["heart", "lungs", "pleura", "mediastinum", "findings", "impression"]
    assert questions["heart"].question == REGION_QUESTIONS["heart"]
    assert (
        questions["heart"].answer
        == "The cardiac silhouette and mediastinum size are within normal limits."
    )
    assert (
        questions["lungs"].answer == "There is no pulmonary edema. There is no focal consolidation."
    )
    assert (
        questions["pleura"].answer
        == "There are no XXXX of a pleural effusion. There is no evidence of pneumothorax."
    )
    assert (
        questions["findings"].question == FINDINGS_QUESTION
        and questions["findings"].answer == report["findings"]
    )
    assert (
        questions["impression"].question == IMPRESSION_QUESTION
        and questions["impression"].answer == "Normal chest x-XXXX."
    )
