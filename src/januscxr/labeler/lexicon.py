"""The phrase syntax of the labeler's vocabulary, and :class:`Lexicon`, one observation's phrases.

Phrases are regular expressions over lower-case report text with two conveniences, so the
vocabulary reads like the reports it describes:

- a space matches one or more spaces or hyphens (``"x ray"`` matches "x-ray" and "x  ray"),
  and `` ?`` matches an optional one (``"port ?a ?cath"`` also matches "portacath");
- a lone ``~`` (or ``~N``) between two spaces matches up to three (or N) filler words, such as
  adverbs or the ``XXXX`` of de-identification (``"heart ~ enlarged"`` matches "heart is
  mildly enlarged" and "heart XXXX enlarged").

Neither crosses punctuation, so a phrase never spans two clauses. Every phrase is matched on
word boundaries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

_GAP = re.compile(r" ~(\d?) ")
_SEPARATOR = r"[\s-]+"
_OPTIONAL_SEPARATOR = r"[\s-]*"


class PhraseKind(StrEnum):
    """What a vocabulary phrase says about its observation, before context is applied."""

    IGNORED = "ignored"  # looks like a mention but is not one ("pericardial effusion")
    NORMAL = "normal"  # states the structure is normal ("heart size is normal"): a negative
    HEDGED = "hedged"  # a mention that is uncertain by itself ("borderline heart size")
    MENTION = "mention"  # names the observation; negation and uncertainty decide its label


def phrase_to_regex(phrase: str) -> str:
    """Translate one vocabulary phrase into a plain regular expression."""
    gapped = _GAP.sub(lambda m: rf"(?:{_SEPARATOR}[\w']+){{0,{m.group(1) or 3}}}?{_SEPARATOR}", phrase)
    return _OPTIONAL_SEPARATOR.join(part.replace(" ", _SEPARATOR) for part in gapped.split(" ?"))


def translate_phrases(groups: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Group name -> plain regexes, in the order given; empty groups are dropped."""
    return {name: tuple(phrase_to_regex(p) for p in phrases) for name, phrases in groups.items() if phrases}


@dataclass(frozen=True)
class Lexicon:
    """The phrases of one observation, by what each kind of phrase means.

    Parameters
    ----------
    mention
        Phrases that name the observation; context decides positive, negative or uncertain.
    hedged
        Phrases uncertain by themselves; negation still applies.
    normal
        Phrases stating the structure is normal; they give a negative label directly.
    ignored
        Look-alikes to skip, matched first so they shadow a mention inside them.
    """

    mention: tuple[str, ...]
    hedged: tuple[str, ...] = ()
    normal: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()

    def regexes(self) -> dict[str, tuple[str, ...]]:
        """:class:`PhraseKind` value -> regexes, exclusions first so they shadow mentions."""
        return translate_phrases(
            {
                PhraseKind.IGNORED.value: self.ignored,
                PhraseKind.NORMAL.value: self.normal,
                PhraseKind.HEDGED.value: self.hedged,
                PhraseKind.MENTION.value: self.mention,
            }
        )
