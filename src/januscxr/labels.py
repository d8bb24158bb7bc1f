"""The findings vocabulary: the 14 CheXpert observations and what the classifier adds.

The order of :data:`URGENCY` is the order in which findings are shown and reported:
critical findings first, the most time-critical at the top.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


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
    def code(self) -> FindingCode:
        """The coded concept that names the finding in DICOM SR, HL7 and FHIR (:data:`FINDING_CODES`)."""
        return FINDING_CODES[self]

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


class FindingCode(NamedTuple):
    """A coded concept: DICOM Coding Scheme Designator, Code Value and Code Meaning."""

    scheme: str  # SCT (SNOMED CT), DCM (DICOM), or LOCAL_CODING_SCHEME
    value: str
    meaning: str


# januscxr's own coding scheme (DICOM PS3.16 8.2: private designators start with "99"), used only
# where no SNOMED CT, DICOM or RadLex concept could be confirmed: a local code is honest, a
# guessed standard code looks authoritative to every system downstream.
LOCAL_CODING_SCHEME = "99JANUSCXR"

# The SNOMED CT codes are those DICOM's own code dictionary uses (pydicom.sr.codedict: CID 6105 for
# pneumothorax, CID 3700 for pulmonary edema) or that independent published mappings agree on.
# Lung opacity is DICOM's chest CAD concept (CID 6104 "Abnormal Opacity"), which SNOMED CT lacks.
FINDING_CODES: dict[Finding, FindingCode] = {
    Finding.NO_FINDING: FindingCode("SCT", "408573005", "Imaging result normal"),
    Finding.ENLARGED_CARDIOMEDIASTINUM: FindingCode(LOCAL_CODING_SCHEME, "ENL-CARDIOMED", "Enlarged Cardiomediastinum"),
    Finding.CARDIOMEGALY: FindingCode("SCT", "8186001", "Cardiomegaly"),
    Finding.LUNG_OPACITY: FindingCode("DCM", "112001", "Opacity"),
    Finding.LUNG_LESION: FindingCode(LOCAL_CODING_SCHEME, "LUNG-LESION", "Lung Lesion"),
    Finding.EDEMA: FindingCode("SCT", "19242006", "Pulmonary edema"),
    Finding.CONSOLIDATION: FindingCode("SCT", "95436008", "Lung consolidation"),
    Finding.PNEUMONIA: FindingCode("SCT", "233604007", "Pneumonia"),
    Finding.ATELECTASIS: FindingCode("SCT", "46621007", "Atelectasis"),
    Finding.PNEUMOTHORAX: FindingCode("SCT", "36118008", "Pneumothorax"),
    Finding.PLEURAL_EFFUSION: FindingCode("SCT", "60046008", "Pleural effusion"),
    Finding.PLEURAL_OTHER: FindingCode(LOCAL_CODING_SCHEME, "PLEURAL-OTHER", "Pleural Other"),
    Finding.FRACTURE: FindingCode("SCT", "125605004", "Fracture of bone"),
    Finding.SUPPORT_DEVICES: FindingCode("SCT", "63653004", "Biomedical device"),
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
