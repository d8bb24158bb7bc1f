"""What the labeler returns: a :class:`Mention` per finding with the sentence behind it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from januscxr.labels import CHEXPERT_14, Finding


class Mention(StrEnum):
    """How a report speaks of one observation, in CheXpert's four classes."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNCERTAIN = "uncertain"
    NOT_MENTIONED = "not_mentioned"

    @property
    def code(self) -> int | None:
        """CheXpert's encoding: 1 positive, 0 negative, -1 uncertain, ``None`` (blank) not mentioned."""
        return _CODES[self]

    @property
    def is_present(self) -> bool:
        """Whether the report asserts or entertains the observation (positive or uncertain)."""
        return self in {Mention.POSITIVE, Mention.UNCERTAIN}


_CODES: dict[Mention, int | None] = {
    Mention.POSITIVE: 1,
    Mention.NEGATIVE: 0,
    Mention.UNCERTAIN: -1,
    Mention.NOT_MENTIONED: None,
}


class NoFindingRule(StrEnum):
    """When "No Finding" is positive.

    ``NORMAL_STUDY`` (default): the report describes no abnormality at all, support devices
    aside; an abnormality outside the 14 observations (a hiatal hernia, scoliosis, a calcified
    granuloma, emphysema) also rules it out, as it would for a radiologist calling a study
    normal. ``CHEXPERT``: only the other 12 observations count, CheXpert's own rule.
    """

    NORMAL_STUDY = "normal_study"
    CHEXPERT = "chexpert"


@dataclass(frozen=True, slots=True)
class FindingLabel:
    """The label of one finding and the report sentence that decided it (``None`` if none)."""

    finding: Finding
    mention: Mention
    sentence: str | None = None


@dataclass(frozen=True)
class ReportLabels(Mapping[Finding, FindingLabel]):
    """The 14 labels of one report, keyed by :class:`~januscxr.labels.Finding`.

    Look-ups accept the enum or its name (``labels["Pleural Effusion"]``). ``other_findings``
    holds the sentences that describe abnormalities outside the 14 observations.
    """

    labels: dict[Finding, FindingLabel]
    other_findings: tuple[str, ...] = field(default=())

    def __getitem__(self, finding: Finding | str) -> FindingLabel:
        return self.labels[Finding.coerce(finding)]

    def __iter__(self) -> Iterator[Finding]:
        return iter(CHEXPERT_14)

    def __len__(self) -> int:
        return len(CHEXPERT_14)

    def mention(self, finding: Finding | str) -> Mention:
        """The :class:`Mention` of one finding."""
        return self[finding].mention

    @property
    def positive(self) -> tuple[Finding, ...]:
        """The findings labelled positive, in :data:`~januscxr.labels.CHEXPERT_14` order."""
        return tuple(f for f in CHEXPERT_14 if self.labels[f].mention is Mention.POSITIVE)

    def codes(self) -> dict[str, int | None]:
        """Finding name -> CheXpert code (1, 0, -1 or ``None``), in CheXpert order."""
        return {f.value: self.labels[f].mention.code for f in CHEXPERT_14}
