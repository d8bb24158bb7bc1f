"""Sentence spans, for sentences written for these tests."""

from __future__ import annotations

import pytest

from januscxr.labeler.sentences import split_sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Heart normal. Lungs clear.", ["Heart normal.", "Lungs clear."]),
        ("A 1.5 cm nodule. Atelectasis vs. scar.", ["A 1.5 cm nodule.", "Atelectasis vs. scar."]),
        ("Small effusion.No pneumothorax", ["Small effusion.", "No pneumothorax"]),
        ("1. No acute disease.  \n2. Stable.", ["No acute disease.", "Stable."]),
        ("Is there a pneumothorax? None seen!", ["Is there a pneumothorax?", "None seen!"]),
        ("", []),
        ("  ..  ", []),
    ],
)
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert [text[a:b] for a, b in split_sentences(text)] == sentences
