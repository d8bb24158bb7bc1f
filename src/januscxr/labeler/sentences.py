"""Split report text into sentences, keeping character offsets into the original text.

The labeler matches on the lower-cased text and quotes the original sentence as evidence;
lower-casing keeps every offset, so one list of spans serves both.
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? followed by white space or the end, at a full stop glued to the
# next capitalised word ("effusion.No"), or at a newline. A decimal point ("1.5 cm") is none
# of these; "vs." is excluded below, outside the regex, so that its scan stays fast.
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)|\.(?=[A-Z])|\n+")
_HAS_WORD = re.compile(r"[A-Za-z]{2,}")
_NOT_AN_END = ("vs", " v")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences of ``text`` that contain a word.

    Parameters
    ----------
    text
        Report text, any case.

    Returns
    -------
    list of tuple of int
        Spans in order, trimmed of surrounding white space; list numbers such as "1." and
        empty fragments are dropped.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for end_match in _SENTENCE_END.finditer(text):
        at = end_match.start()
        if text[at] == "." and text[at - 2 : at].lower() in _NOT_AN_END:
            continue
        _append_span(text, start, end_match.end(), spans)
        start = end_match.end()
    _append_span(text, start, len(text), spans)
    return spans


def _append_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    """Trim white space and keep the span when it holds at least one word."""
    piece = text[start:end]
    stripped = piece.strip()
    if stripped and _HAS_WORD.search(stripped):
        start += len(piece) - len(piece.lstrip())
        spans.append((start, start + len(stripped)))
