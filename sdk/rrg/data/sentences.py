"""Sentence splitting that keeps every sentence a verbatim slice of the report.

The bundled report text may not be edited (its licence forbids derivatives), so a sentence is
never rebuilt from tokens: :func:`sentence_spans` returns ``(start, end)`` offsets into the
original string and :func:`split_sentences` returns ``text[start:end]``.

Rule: a sentence ends after a run of ``.``, ``!`` or ``?`` that is followed by whitespace or
directly by an upper-case letter (the reports contain joins such as ``"apex.There"``), except
when the token ending in the period is a bare list number (``"1."``, ``"2."``), which stays
with the sentence it introduces. A final fragment without a terminal period is a sentence too.
"""

from __future__ import annotations

import re

# End of a sentence: one or more terminators, then whitespace or an upper-case letter.
_END = re.compile(r"[.!?]+(?=\s|[A-Z]|$)")
# A sentence so far that is only a list enumerator such as "1" or "12".
_ENUMERATOR = re.compile(r"\d{1,2}")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Return ``(start, end)`` offsets of the sentences of ``text``, whitespace excluded."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _END.finditer(text):
        if _ENUMERATOR.fullmatch(text[start : match.start()].strip()):
            # "1." alone so far: a list number, not the end of a sentence.
            continue
        end = match.end()
        _append(text, start, end, spans)
        start = end
    _append(text, start, len(text), spans)
    return spans


def _append(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, each a verbatim slice of it, in order."""
    return [text[a:b] for a, b in sentence_spans(text)]
