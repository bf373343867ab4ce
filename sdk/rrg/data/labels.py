"""Classification questions about a report's findings: the demo set's second data set.

FLARE 2025 Task 5 mixes report generation (IU_XRay) with classification data sets such as chestdr
(``Classification`` and ``Multi-label Classification``). The demo set mirrors that with
``IU_XRay_findings``: for some reports, two questions about the frontal image, answered from the
findings the report's own text states (:func:`rrg.data.findings.derive_findings`, the same findings
the synthetic image is drawn from):

* ``Classification``: the heart size as a letter choice (:data:`HEART_QUESTION`, answer ``"A"``,
  ``"B"`` or ``"C"``), as FLARE's classification questions list their options;
* ``Multi-label Classification``: every finding present, a JSON list of labels from
  :data:`FINDING_LABELS` in that order, or ``["No Finding"]``.
"""

from __future__ import annotations

from dataclasses import dataclass

from rrg.data.findings import ReportFindings

DATASET = "IU_XRay_findings"
CLASSIFICATION = "Classification"
MULTI_LABEL = "Multi-label Classification"

HEART_CHOICES = {"normal": "A", "borderline": "B", "enlarged": "C"}
HEART_QUESTION = "What is the heart size on this chest X-ray? A. normal, B. borderline, C. enlarged"

NO_FINDING = "No Finding"
FINDING_LABELS = (
    "Cardiomegaly",
    "Pleural Effusion",
    "Lung Opacity",
    "Nodule",
    "Pneumothorax",
    "Fracture",
    "Degenerative Spine",
    "Sternotomy",
    "Surgical Clips",
    "Hyperinflation",
)
FINDINGS_QUESTION = (
    "Which of these findings does this chest X-ray show: "
    + ", ".join(FINDING_LABELS)
    + f"? List every one that applies, or {NO_FINDING}."
)


@dataclass(frozen=True)
class LabelQuestion:
    """One question of the demo's classification data set."""

    task_type: str
    question: str
    answer: str | list[str]


def finding_labels(findings: ReportFindings) -> list[str]:
    """The labels of :data:`FINDING_LABELS` the findings set, in that order (``[NO_FINDING]`` for none)."""
    present = {
        "Cardiomegaly": findings.heart == "enlarged",
        "Pleural Effusion": bool(findings.effusions),
        "Lung Opacity": bool(findings.opacities),
        "Nodule": bool(findings.nodules),
        "Pneumothorax": bool(findings.pneumothorax),
        "Fracture": bool(findings.fractures),
        "Degenerative Spine": findings.degenerative_spine,
        "Sternotomy": findings.sternotomy,
        "Surgical Clips": findings.surgical_clips,
        "Hyperinflation": findings.hyperinflation,
    }
    return [label for label in FINDING_LABELS if present[label]] or [NO_FINDING]


def label_questions(findings: ReportFindings) -> list[LabelQuestion]:
    """The report's classification question, then its multi-label question."""
    return [
        LabelQuestion(CLASSIFICATION, HEART_QUESTION, HEART_CHOICES[findings.heart]),
        LabelQuestion(MULTI_LABEL, FINDINGS_QUESTION, finding_labels(findings)),
    ]
