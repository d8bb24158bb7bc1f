"""One pass over the words finds what ``finditer`` finds, per lexicon."""

from __future__ import annotations

import re

import pytest

from januscxr.labeler.context import TRIGGER_REGEXES
from januscxr.labeler.lexicon import phrase_to_regex, translate_phrases
from januscxr.labeler.scanner import PhraseScanner, compile_lexicon, leading_keys
from januscxr.labeler.vocabulary import FINDING_LEXICONS, NORMAL_STUDY, OTHER_ABNORMALITY

# Sentences written for these tests.
TEXTS = [
    "no focal consolidation, pleural effusion or pneumothorax. the heart size is normal.",
    "mild cardiomegaly with pulmonary vascular congestion and small bilateral effusions.",
    "left basilar opacity may represent atelectasis versus pneumonia; cannot exclude a small effusion.",
    "pericardial effusion. calcified granuloma. healed rib fractures. right ij catheter.",
    "the xxxx are intact. negative chest x-xxxx. no pnuemothorax. hyperinflated lungs, copd.",
    "if there is concern for fracture, rib views. pneumonia seen on the prior ct has resolved.",
    "",
]


@pytest.mark.parametrize(
    ("regex", "keys"),
    [
        ("cardiomegaly", {"card"}),
        ("(?:heart|cardiac) enlargement", {"hear", "card"}),
        ("o?edema", {"oede", "edem"}),
        ("ng tubes?", {"ng"}),
        (phrase_to_regex("j tube"), {"j"}),
        ("(?:hemi)?diaphragm", {"hemi", "diap"}),
        ("ptx|pleural air", {"ptx", "pleu"}),
    ],
)
def test_leading_keys(regex: str, keys: set[str]) -> None:
    assert leading_keys(regex) == keys


@pytest.mark.parametrize("regex", [r"\w+ effusion", r"[^.]{0,5}nodule", r".nodule", r"(?:is )?"])
def test_leading_keys_gives_up_on_what_it_cannot_list(regex: str) -> None:
    assert leading_keys(regex) is None


def lexicons() -> list[dict[str, tuple[str, ...]]]:
    return [
        *(lexicon.regexes() for lexicon in FINDING_LEXICONS.values()),
        OTHER_ABNORMALITY.regexes(),
        NORMAL_STUDY.regexes(),
        TRIGGER_REGEXES,
    ]


@pytest.mark.parametrize("text", TEXTS)
def test_the_scanner_finds_what_finditer_finds(text: str) -> None:
    groups = lexicons()
    scanner = PhraseScanner(groups)
    found = sorted((m.pattern, m.start, m.end, m.group) for m in scanner.scan(text))
    expected = sorted(
        (i, m.start(), m.end(), m.lastgroup) for i, g in enumerate(groups) for m in compile_lexicon(g).finditer(text)
    )
    assert found == expected
    assert found or not text  # the sentences do hold phrases


def test_a_phrase_it_cannot_analyse_is_tried_at_every_word() -> None:
    scanner = PhraseScanner([translate_phrases({"mention": (r"\w+ effusion",)})])
    assert [(m.start, m.end) for m in scanner.scan("small left effusion")] == [(6, 19)]


def test_phrases_keep_their_order_within_a_lexicon() -> None:
    scanner = PhraseScanner([{"ignored": ("pericardial effusion",), "mention": ("effusion", "pericardial")}])
    assert [m.group for m in scanner.scan("pericardial effusion, effusion")] == ["ignored", "mention"]
    assert re.fullmatch(r"\\b\(\?:.*\)\\b", compile_lexicon({"a": ("x",)}).pattern)
