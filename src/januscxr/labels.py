"""The findings vocabulary: the 14 CheXpert observations and what the classifier adds.

The order of :data:`URGENCY` is the order in which findings are shown and reported:
critical findings first, the most time-critical at the top.
"""

from __future__ import annotations

from enum import StrEnum


class Finding(StrEnum):
    """A chest radiograph observation, named as CheXpert names it."""

    NO_FINDING = "No Finding"
    ENLARGED_CARDIOMEDIASTINUM = "Enlarged Cardiomediastinum"
    CARDIOMEGALY = "Cardiomegaly"
    LUNG_OPACITY = "Lung Opacity"
    LUNG_LESION = "Lung Lesion"
    EDEMA = "Edema"
    CONSOLIDATION = "Consolidation"
    PNEUMONIA = "Pneumonia"
    ATELECTASIS = "Atelectasis"
    PNEUMOTHORAX = "Pneumothorax"
    PLEURAL_EFFUSION = "Pleural Effusion"
    PLEURAL_OTHER = "Pleural Other"
    FRACTURE = "Fracture"
    SUPPORT_DEVICES = "Support Devices"

    @property
    def display_name(self) -> str:
        """Lower-case name as it reads inside a sentence ("pleural effusion")."""
        return _DISPLAY.get(self, self.value.lower())

    @property
    def is_critical(self) -> bool:
        """Whether a positive call should move the study up the worklist."""
        return self in CRITICAL

    @property
    def urgency_rank(self) -> int:
        """0 for the most urgent finding; larger is less urgent."""
        return URGENCY.index(self)

    @property
    def is_lateralizable(self) -> bool:
        """Whether the finding can be described as right- or left-sided."""
        return self in LATERALIZABLE

    @classmethod
    def coerce(cls, value: str | Finding) -> Finding:
        """Accept the enum, its value, its member name or a snake/kebab-case name."""
        if isinstance(value, Finding):
            return value
        key = value.strip().replace("-", "_").replace(" ", "_").upper()
        for member in cls:
            if member.name == key or member.value.upper() == value.strip().upper():
                return member
        expected = ", ".join(m.value for m in cls)
        raise ValueError(f"unknown finding {value!r}; expected one of: {expected}")


CHEXPERT_14: tuple[Finding, ...] = tuple(Finding)

CRITICAL: frozenset[Finding] = frozenset(
    {
        Finding.PNEUMOTHORAX,
        Finding.PLEURAL_EFFUSION,
        Finding.CONSOLIDATION,
        Finding.PNEUMONIA,
        Finding.CARDIOMEGALY,
        Finding.LUNG_LESION,
        Finding.EDEMA,
        Finding.ATELECTASIS,
        Finding.FRACTURE,
    }
)

URGENCY: tuple[Finding, ...] = (
    Finding.PNEUMOTHORAX,
    Finding.PNEUMONIA,
    Finding.CONSOLIDATION,
    Finding.EDEMA,
    Finding.PLEURAL_EFFUSION,
    Finding.LUNG_LESION,
    Finding.FRACTURE,
    Finding.CARDIOMEGALY,
    Finding.ATELECTASIS,
    Finding.LUNG_OPACITY,
    Finding.ENLARGED_CARDIOMEDIASTINUM,
    Finding.PLEURAL_OTHER,
    Finding.SUPPORT_DEVICES,
    Finding.NO_FINDING,
)

LATERALIZABLE: frozenset[Finding] = frozenset(
    {
        Finding.PNEUMOTHORAX,
        Finding.PLEURAL_EFFUSION,
        Finding.CONSOLIDATION,
        Finding.PNEUMONIA,
        Finding.LUNG_LESION,
        Finding.ATELECTASIS,
        Finding.LUNG_OPACITY,
        Finding.PLEURAL_OTHER,
    }
)

_DISPLAY: dict[Finding, str] = {
    Finding.NO_FINDING: "no finding",
    Finding.ENLARGED_CARDIOMEDIASTINUM: "enlarged cardiomediastinal silhouette",
    Finding.LUNG_OPACITY: "airspace opacity",
    Finding.LUNG_LESION: "lung nodule or mass",
    Finding.PLEURAL_OTHER: "pleural thickening",
    Finding.SUPPORT_DEVICES: "support devices",
}

# NIH ChestX-ray14 label -> CheXpert observation. Infiltration is folded into Lung Opacity,
# the CheXpert umbrella for parenchymal opacities; Emphysema, Fibrosis and Hernia have no
# CheXpert counterpart and are not used.
NIH_TO_FINDING: dict[str, Finding] = {
    "Atelectasis": Finding.ATELECTASIS,
    "Cardiomegaly": Finding.CARDIOMEGALY,
    "Consolidation": Finding.CONSOLIDATION,
    "Edema": Finding.EDEMA,
    "Effusion": Finding.PLEURAL_EFFUSION,
    "Infiltration": Finding.LUNG_OPACITY,
    "Mass": Finding.LUNG_LESION,
    "Nodule": Finding.LUNG_LESION,
    "Pleural_Thickening": Finding.PLEURAL_OTHER,
    "Pneumonia": Finding.PNEUMONIA,
    "Pneumothorax": Finding.PNEUMOTHORAX,
}


def sort_by_urgency(findings: list[Finding]) -> list[Finding]:
    """Critical findings first, then by :data:`URGENCY`."""
    return sorted(findings, key=lambda f: (not f.is_critical, f.urgency_rank))
