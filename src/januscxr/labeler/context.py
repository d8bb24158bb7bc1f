"""Negation and uncertainty in the NegEx / ConText tradition: triggers, scopes, a verdict.

A trigger phrase governs the mentions in its clause, within a reach counted in words:
pre-triggers ("no", "may represent") those after them, post-triggers ("is not seen",
"cannot be excluded") those before them, "versus" both sides. A clause ends at a terminator
("but", "however", "there is", ";"). Pseudo-triggers ("no change in") are matched only to
stop their words from acting. The nearest pre-trigger decides, an uncertainty post-trigger
overrides it, and a condition ("if there is") or an earlier exam ("on the prior CT")
frames the whole clause: such a mention is not a statement about this exam.

Certainty follows the radiologist's scale rather than the mere presence of a hedge:
"likely", "probably", "suggestive of", "consistent with" report a finding believed present
(affirmed); "may", "possible", "cannot exclude", "versus", "borderline" raise a possibility
(uncertain).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from januscxr.labeler.lexicon import translate_phrases


class TriggerKind(StrEnum):
    """What a context phrase does to the mentions in its scope."""

    PSEUDO = "pseudo"
    HYPOTHETICAL_PRE = "hypothetical_pre"
    HYPOTHETICAL_POST = "hypothetical_post"
    HISTORICAL_PRE = "historical_pre"
    HISTORICAL_POST = "historical_post"
    UNCERTAIN_POST = "uncertain_post"
    UNCERTAIN_BOTH = "uncertain_both"
    UNCERTAIN_PRE = "uncertain_pre"
    PROBABLE = "probable"
    UNCERTAIN_MODIFIER = "uncertain_modifier"
    NEGATION_BOTH = "negation_both"
    NEGATION_POST = "negation_post"
    NEGATION_PRE = "negation_pre"
    TERMINATOR = "terminator"


class Polarity(StrEnum):
    """The verdict on one mention."""

    AFFIRMED = "affirmed"
    NEGATED = "negated"
    UNCERTAIN = "uncertain"
    HYPOTHETICAL = "hypothetical"  # a condition or a limit of the exam, not a statement about the patient
    HISTORICAL = "historical"  # what another, earlier exam showed


_SEEN = r"(?:seen|identified|visuali[sz]ed|visible|present|appreciated|evident|demonstrated|noted|detected|apparent)"

# Order matters: at one position the first kind that matches wins, so longer and more
# specific phrases come first ("cannot be excluded" before "not", "no change" before "no").
_TRIGGER_PHRASES: dict[TriggerKind, tuple[str, ...]] = {
    TriggerKind.PSEUDO: (
        r"no (?:\w+ )?(?:interval |significant |appreciable |substantial )*(?:change|increase|decrease|progression)",
        r"not (?:\w+ )?(?:changed|increased|decreased)",
        r"without (?:\w+ )?(?:change|interval change|progression)",
        r"(?:to|would) (?:suggest|indicate|represent)",
        r"not only",
        r"age ?indeterminate|of indeterminate age",
        r"(?:almost|nearly|near|partially|partly|incompletely|not completely|not fully|not entirely|slowly) "
        r"(?:completely |totally |fully )?(?:resolved|resolving|cleared|resolution)",
    ),
    TriggerKind.HYPOTHETICAL_PRE: (
        r"if there (?:is|are|were|was)|if|in case of|in the event of|should there be|whether|detecting|detection of",
    ),
    TriggerKind.HYPOTHETICAL_POST: (
        r"(?:may|might|can|could) not be (?:\w+ )?(?:demonstrated|seen|visible|detected|apparent|evident|excluded)",
    ),
    TriggerKind.HISTORICAL_PRE: (
        r"on (?:a |an |the )?(?:previous|prior|outside|old|earlier) ~3 (?:exams?|examinations?|stud(?:y|ies)|ct|cts|"
        r"scans?|radiographs?|films?|imaging)",
        r"(?:on|by) (?:a |an |the )?(?:\w+ )?(?:chest )?(?:ct|cat scan|computed tomography)",
    ),
    TriggerKind.HISTORICAL_POST: (
        r"(?:seen|noted|shown|demonstrated|described|identified|visuali[sz]ed|visible) (?:on|in|at|by) (?:a |an |the )?"
        r"(?:\w+ )?(?:chest )?(?:ct|cat scan|computed tomography)",
        r"(?:seen|noted|shown|demonstrated|described|identified|visuali[sz]ed|visible) (?:on|in|at) (?:a |an |the )?"
        r"(?:previous|prior|outside|earlier|old) ~2 (?:exams?|examinations?|stud(?:y|ies)|radiographs?|films?|imaging)",
    ),
    TriggerKind.UNCERTAIN_POST: (
        r"(?:(?:is|are|was|were) )?not (?:well|clearly|definitely|definitively) (?:seen|visuali[sz]ed|demonstrated|identified)",
        r"(?:cannot|can not|can't|could not|may not|not|not entirely|not completely) ~2 (?:excluded|ruled out)",
        r"(?:is|are|was|were) (?:\w+ )?(?:suspected|questioned|questionable|possible|equivocal|considered|uncertain)",
        r"(?:is|are) (?:also )?(?:a |another )?(?:consideration|considerations|possibility|differential consideration)",
        r"(?:is|are) (?:also )?(?:in|within|included in) the differential",
        r"(?:would|may|might|could|should) be (?:a |another )?(?:consideration|considered|possibility)",
        r"(?:may|might|could) (?:be|have|also) (?:present|developing|seen|considered)",
    ),
    TriggerKind.UNCERTAIN_BOTH: (r"versus", r"vs\.?", r"and/or"),
    TriggerKind.UNCERTAIN_PRE: (
        r"(?:cannot|can not|can't|could not|difficult to|unable to|not possible to) ~2 (?:exclude|rule out)",
        r"(?:concern|concerning|worrisome|suspect|suspected|question|possibility|evaluate|evaluation|"
        r"differential considerations?|differential diagnosis|consideration) (?:for|of|includes?)",
        r"(?:unlikely|less likely|not likely)",
        r"(?:correlat\w+|correlate) (?:clinically )?(?:for|with|to exclude|to evaluate for)|recommend|recommended",
        r"(?:may|might|could|can|would) (?:\w+ )?(?:also )?(?:represent|reflect|be|indicate|suggest|relate|have|"
        r"correspond|signify)",
        r"(?:may|might|could|possibly|perhaps|questionably|question|consider|considered|rule out|r/o|either|"
        r"not well seen|not well visualized|poorly visualized|differential)",
    ),
    # The upper rungs of the radiologist's scale of certainty: the finding is believed present.
    TriggerKind.PROBABLE: (
        r"(?:most |more )?(?:likely|probable|probably|presumed|presumably|favored|favor|favoring)",
        r"(?:suggestive|suspicious|characteristic|diagnostic|indicative) (?:of|for)",
        r"(?:suggests|suggesting|suggested by|represents?|representing|consistent with|compatible with|"
        r"in keeping with|typical of)",
    ),
    # Adjectives: they hedge the noun phrase they qualify, a few words at most.
    TriggerKind.UNCERTAIN_MODIFIER: (
        r"possible|probable|questionable|equivocal|indeterminate|borderline|suspicious|suspected|presumed|"
        r"uncertain|concerning|worrisome",
    ),
    TriggerKind.NEGATION_BOTH: (r"resolved|cleared|removed|absent|ruled out|excluded",),
    TriggerKind.NEGATION_POST: (
        rf"(?:is|are|was|were|has|have|been) (?:\w+ )?(?:not|no longer) (?:\w+ )?{_SEEN}",
        rf"(?:not|no longer) (?:\w+ )?{_SEEN}",
        r"(?:has|have) (?:since |now |completely |nearly |near completely )?(?:resolved|cleared|been removed|"
        r"been resolved|disappeared)",
        r"(?:is|are) gone",
    ),
    TriggerKind.NEGATION_PRE: (
        r"no|not|without|negative for|free of|clear of|clearing of|absence of|resolution of|resolving of|"
        r"removal of|interval removal|none|neither|nor|never|rules out|no longer|lack of|lacks|(?:rather|xxxx) than",
    ),
    TriggerKind.TERMINATOR: (
        r"but|however|although|though|except|apart from|aside from|other than|otherwise|whereas|while|yet|"
        r"which|who|that is|with the exception|there is|there are|there has|there have|there remains?|"
        r"and (?:there|the)",
        r"(?:seen|identified|noted|demonstrated|visuali[sz]ed)(?=,)",  # "no effusion seen, dense nodule ..."
    ),
}

# The triggers as a lexicon for :class:`~januscxr.labeler.scanner.PhraseScanner`.
TRIGGER_REGEXES = translate_phrases({kind.value: phrases for kind, phrases in _TRIGGER_PHRASES.items()})
_PHRASE_BREAK = re.compile(r",|\bwith\b")
_PUNCTUATION_STOPS = re.compile(r"[;:]|\s-\s")

# How many words a trigger reaches across, before (pre) or after (post) it; kinds absent from
# a table do not act in that direction.
PRE_REACH: dict[TriggerKind, int] = {
    TriggerKind.HYPOTHETICAL_PRE: 12,
    TriggerKind.HISTORICAL_PRE: 8,
    TriggerKind.NEGATION_PRE: 16,  # a negated list: "no focal airspace consolidation, effusion or pneumothorax"
    TriggerKind.NEGATION_BOTH: 3,
    TriggerKind.UNCERTAIN_PRE: 12,
    TriggerKind.PROBABLE: 12,
    TriggerKind.UNCERTAIN_MODIFIER: 6,  # "possible left lower lobe pneumonia"
    TriggerKind.UNCERTAIN_BOTH: 4,
}
POST_REACH: dict[TriggerKind, int] = {
    TriggerKind.HYPOTHETICAL_POST: 7,  # "fractures may not be demonstrated"
    TriggerKind.HISTORICAL_POST: 5,  # "pneumonia seen on the prior CT"
    TriggerKind.NEGATION_POST: 10,  # "effusion, pneumothorax or consolidation is not seen"
    TriggerKind.NEGATION_BOTH: 7,
    TriggerKind.UNCERTAIN_POST: 10,
    TriggerKind.PROBABLE: 2,  # "atelectasis is likely"
    TriggerKind.UNCERTAIN_BOTH: 2,  # "atelectasis versus pneumonia"
}
_NOT_ASSERTED = {
    TriggerKind.HYPOTHETICAL_PRE: Polarity.HYPOTHETICAL,
    TriggerKind.HYPOTHETICAL_POST: Polarity.HYPOTHETICAL,
    TriggerKind.HISTORICAL_PRE: Polarity.HISTORICAL,
    TriggerKind.HISTORICAL_POST: Polarity.HISTORICAL,
}
_HEDGES = frozenset({TriggerKind.UNCERTAIN_PRE, TriggerKind.UNCERTAIN_MODIFIER, TriggerKind.UNCERTAIN_BOTH})
_NEGATIONS = frozenset({TriggerKind.NEGATION_PRE, TriggerKind.NEGATION_BOTH, TriggerKind.NEGATION_POST})


@dataclass(frozen=True, slots=True)
class Trigger:
    """A context phrase found in the text."""

    start: int
    end: int
    kind: TriggerKind
    phrase: str


class SentenceContext:
    """The triggers and clause boundaries of one sentence of a lower-cased text, ready to query.

    Offsets everywhere are offsets into the whole text.

    Parameters
    ----------
    text
        The lower-cased report.
    start, end
        The sentence's span in ``text``.
    found
        The sentence's context phrases, matches of :data:`TRIGGER_REGEXES` as
        ``(start, end, group)``; the group names the :class:`TriggerKind`.
    """

    __slots__ = ("_end", "_ends", "_start", "_starts", "_stops", "_text", "_triggers")

    def __init__(self, text: str, start: int, end: int, found: Iterable[tuple[int, int, str]]) -> None:
        self._text, self._start, self._end = text, start, end
        triggers: list[Trigger] = []
        stops: list[int] = [m.start() for m in _PUNCTUATION_STOPS.finditer(text, start, end)]
        for begin, finish, group in found:
            kind = TriggerKind(group)
            if kind is TriggerKind.TERMINATOR:
                stops.append(begin)
            elif kind is not TriggerKind.PSEUDO:
                triggers.append(Trigger(begin, finish, kind, text[begin:finish]))
        self._triggers = triggers
        self._starts = [t.start for t in triggers]
        self._ends = [t.end for t in triggers]
        self._stops = sorted(stops)

    def polarity(self, start: int, end: int) -> tuple[Polarity, str | None]:
        """The verdict on the mention at ``[start, end)`` and the trigger phrase behind it."""
        clause_start, clause_end = self._clause(start, end)
        pre = self._pre_trigger(start, end, clause_start)
        post = self._post_trigger(end, clause_end)
        for trigger in (pre, post):
            if trigger is not None and trigger.kind in _NOT_ASSERTED:
                return _NOT_ASSERTED[trigger.kind], trigger.phrase
        if post is not None and post.kind not in _NEGATIONS and post.kind is not TriggerKind.PROBABLE:
            return Polarity.UNCERTAIN, post.phrase
        chosen = pre or post
        if chosen is not None and chosen.kind in _NEGATIONS:
            return Polarity.NEGATED, chosen.phrase
        if chosen is not None and chosen.kind is not TriggerKind.PROBABLE:
            return Polarity.UNCERTAIN, chosen.phrase
        return Polarity.AFFIRMED, None if chosen is None else chosen.phrase

    def _clause(self, start: int, end: int) -> tuple[int, int]:
        """The span between the terminators around a mention."""
        i = bisect.bisect_right(self._stops, start)
        clause_start = self._stops[i - 1] if i > 0 else self._start
        j = bisect.bisect_left(self._stops, end)
        clause_end = self._stops[j] if j < len(self._stops) else self._end
        return clause_start, clause_end

    def _words_between(self, left: int, right: int) -> int:
        """How many words lie strictly between two offsets (0 when they overlap)."""
        return max(0, self._text.count(" ", left, right) - 1) if left < right else 0

    def _pre_trigger(self, start: int, end: int, clause_start: int) -> Trigger | None:
        """The nearest pre-trigger in the clause that reaches the mention (or lies inside it).

        A hedge that is itself negated gives way to the negation: "no suspicious nodule",
        "no focal consolidation, suspicious opacity or effusion". A hedging clause after a
        comma ("no effusion, possibly atelectasis") keeps its own verdict. A probable cue
        under a weaker one ("may be compatible with") gives way to the weaker. A condition
        ("if there is concern for") or an earlier exam frames the whole clause.
        """
        nearest: Trigger | None = None
        for i in range(bisect.bisect_right(self._ends, end) - 1, -1, -1):
            trigger = self._triggers[i]
            if trigger.start < clause_start:
                break
            reach = PRE_REACH.get(trigger.kind)
            if reach is None or self._words_between(trigger.end, start) > reach:
                continue
            if trigger.kind is TriggerKind.UNCERTAIN_MODIFIER and _PHRASE_BREAK.search(self._text, trigger.end, start):
                continue  # an adjective hedges its own noun phrase only
            if trigger.kind in _NOT_ASSERTED:
                return trigger  # a condition or an earlier exam frames the whole clause
            if nearest is None:
                nearest = trigger
                if trigger.kind in _NEGATIONS:
                    return trigger
            elif trigger.kind in _NEGATIONS and (
                nearest.kind is TriggerKind.UNCERTAIN_MODIFIER or "," not in self._text[trigger.end : nearest.start]
            ):
                return trigger
            elif nearest.kind is TriggerKind.PROBABLE and trigger.kind in _HEDGES:
                nearest = trigger
        return nearest

    def _post_trigger(self, end: int, clause_end: int) -> Trigger | None:
        """The nearest post-trigger in the clause that reaches back to the mention."""
        for i in range(bisect.bisect_left(self._starts, end), len(self._triggers)):
            trigger = self._triggers[i]
            if trigger.end > clause_end:
                return None
            reach = POST_REACH.get(trigger.kind)
            if reach is not None and self._words_between(end, trigger.start) <= reach:
                return trigger
        return None
