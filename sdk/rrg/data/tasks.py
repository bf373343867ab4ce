"""FLARE 2025 Task 5 task types, and their answers as training text.

The benchmark's 19 data sets (FLARE-Task5-MLLM-2D) write ``TaskType`` in a few spellings of the
same tasks (``Report_Generation``, ``Report Generation``, ``Multi-label Classification``,
``Cell Counting`` / ``Counting``, ...). :func:`task_type_key` compares spellings loosely and
:func:`task_kind` names the task, with the rules of the FLARE baseline evaluation code
(``medfm-flare/FLARE25-QWen2.5VL``, ``evaluate_model.py``), in this order:

==============================  ==============================================================
kind                            task type (compared with :func:`task_type_key`)
==============================  ==============================================================
``multi_label_classification``  contains *classification* and *multi* or *label*
``classification``              contains *classification*
``instance_detection``          contains *instance* and *detection*
``detection``                   contains *detection*
``counting``                    contains *count* (``Counting``, ``Cell Counting``)
``regression``                  contains *regression*
``report_generation``           contains *report* or *generation*
``vqa``                         contains *vqa* or *question answering* (open or closed)
==============================  ==============================================================

Answers become the assistant's training text (:func:`answer_text`) as the baselines train on them
(``str(Answer)``), with three differences that keep the text readable and exact: numbers keep the
digits they were written with (``0.50`` stays ``0.50``, see :class:`WrittenNumber`), a list of
labels is joined (``Effusion, Opacity``) rather than printed as a Python list, and boxes are written
as JSON text (``[[12, 40, 96, 130]]``, ``{"1": [[3, 4, 50, 60]]}``). A text answer is always kept
exactly as written. An answer whose shape does not fit its task (a list for a count, a mapping for
a report) is refused: :class:`AnswerShapeError` says why, and the reader names the sample.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal, Self

TaskKind = Literal[
    "report_generation",
    "classification",
    "multi_label_classification",
    "detection",
    "instance_detection",
    "counting",
    "regression",
    "vqa",
]
TASK_KINDS: tuple[TaskKind, ...] = (
    "report_generation",
    "classification",
    "multi_label_classification",
    "detection",
    "instance_detection",
    "counting",
    "regression",
    "vqa",
)
LABEL_SEPARATOR = ", "
"""How a list of labels is joined; ``"; "`` when a label itself holds a comma."""


def task_type_key(task_type: str) -> str:
    """Task types compared loosely: ``Report_Generation`` = ``report generation`` =
    ``Report-Generation`` = ``ReportGeneration``."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", task_type.strip())
    return re.sub(r"[\s_\-]+", " ", spaced).casefold()


def task_kind(task_type: str) -> TaskKind | None:
    """The task a ``TaskType`` names (see the module docstring), or None for one rrg does not know."""
    key = task_type_key(task_type)
    if "classification" in key:
        return "multi_label_classification" if ("multi" in key or "label" in key) else "classification"
    if "detection" in key:
        return "instance_detection" if "instance" in key else "detection"
    if "count" in key:
        return "counting"
    if "regression" in key:
        return "regression"
    if "report" in key or "generation" in key:
        return "report_generation"
    if "vqa" in key or "question answering" in key:
        return "vqa"
    return None


def same_task_type(task_type: str, wanted: str) -> bool:
    """``task_type`` (from a file) is the ``wanted`` one: the same loose key, or the same known kind
    (``Counting`` = ``Cell Counting``, ``Multilabel Classification`` = ``Multi-label Classification``)."""
    if task_type_key(task_type) == task_type_key(wanted):
        return True
    kind = task_kind(task_type)
    return kind is not None and kind == task_kind(wanted)


class WrittenNumber(float):
    """A JSON number with a fraction or exponent, remembering the text it was written as.

    The question file is parsed with ``json.loads(..., parse_float=WrittenNumber)``, so a regression
    answer written ``23.50`` is trained on as ``23.50``, not ``23.5``.
    """

    __slots__ = ("text",)

    def __new__(cls, text: str) -> Self:
        number = super().__new__(cls, text)
        number.text = text
        return number


class AnswerShapeError(ValueError):
    """An answer that cannot be turned into training text for its task type (the message says why)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_text(value: float) -> str:
    if isinstance(value, WrittenNumber):
        return value.text
    return str(value)


def _scalar_text(value: Any) -> str:
    """A string as written, a number as written, a boolean as the baselines' ``str()`` writes it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    return _number_text(value)


def json_text(value: Any) -> str:
    """JSON text of ``value`` with numbers as written and keys in file order (``[12, 40.50]``)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(json_text(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if _is_number(value):
        return _number_text(value)
    return json.dumps(value, ensure_ascii=False)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, bool)) or _is_number(value)


def _labels(value: list[Any]) -> str:
    labels = [_scalar_text(v) for v in value]
    separator = "; " if any("," in label for label in labels) else LABEL_SEPARATOR
    return separator.join(labels)


def _is_box(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 4 and all(_is_number(v) for v in value)


def _is_boxes(value: Any) -> bool:
    return isinstance(value, list) and all(_is_box(v) for v in value)


def _finite(value: Any, what: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise AnswerShapeError(f"{what} must be a finite number")


_BOXES = "a box [x1, y1, x2, y2], a list of boxes, or a mapping of labels to boxes"


def answer_text(value: Any, task_type: str) -> str | None:
    """The training text of one ``Answer`` for its ``TaskType`` (None when there is no answer).

    Raises :class:`AnswerShapeError` when the answer's shape does not fit the task.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value
    kind = task_kind(task_type)
    if isinstance(value, list) and not value and kind not in ("detection", "instance_detection"):
        raise AnswerShapeError("an empty list holds no label or text")
    if kind == "report_generation":
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return " ".join(value)
        raise AnswerShapeError("a report answer must be text, or a list of sentences")
    if kind in ("counting", "regression"):
        if not _is_number(value):
            raise AnswerShapeError(f"a {'count' if kind == 'counting' else 'regression value'} must be a number")
        _finite(value, "the answer")
        return _number_text(value)
    if kind in ("detection", "instance_detection"):
        if _is_box(value) or _is_boxes(value):
            return json_text(value)
        if isinstance(value, dict) and value and all(_is_box(v) or (_is_boxes(v) and v) for v in value.values()):
            return json_text(value)
        raise AnswerShapeError(f"a detection answer must be {_BOXES}")
    if kind == "classification":
        if isinstance(value, list) and len(value) == 1 and _is_scalar(value[0]):
            return _scalar_text(value[0])
        if _is_scalar(value):
            return _scalar_text(value)
        shape = f"a list of {len(value)}" if isinstance(value, list) else type(value).__name__
        raise AnswerShapeError(f"a classification answer is one label, found {shape} (several labels are a Multi-label Classification)")
    if kind in ("multi_label_classification", "vqa"):
        if isinstance(value, list) and all(_is_scalar(v) for v in value):
            return _labels(value)
        if _is_scalar(value):
            return _scalar_text(value)
        raise AnswerShapeError("must be a label, a number, or a list of them")
    # a task type rrg does not know: labels joined, anything nested as JSON text
    if _is_scalar(value):
        return _scalar_text(value)
    if isinstance(value, list) and all(_is_scalar(v) for v in value):
        return _labels(value)
    return json_text(value)
