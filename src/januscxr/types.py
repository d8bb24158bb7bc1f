"""Values every layer shares: the image as read, the per-finding results, the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt

from januscxr.labels import Finding, sort_by_urgency

FloatArray = npt.NDArray[np.float32]


class ViewPosition(StrEnum):
    """DICOM View Position (0018,5101) of a chest radiograph."""

    PA = "PA"
    AP = "AP"
    LATERAL = "LATERAL"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def from_dicom(cls, value: str | None) -> ViewPosition:
        """Map the DICOM code strings (PA, AP, LL, RL, LATERAL...) onto the enum."""
        code = (value or "").strip().upper()
        if code in {"PA", "AP"}:
            return cls(code)
        if code in {"LL", "RL", "LAT", "LATERAL", "LLD", "RLD"}:
            return cls.LATERAL
        return cls.UNKNOWN

    @property
    def is_frontal(self) -> bool:
        return self in {ViewPosition.PA, ViewPosition.AP}


class PatientSex(StrEnum):
    """DICOM Patient's Sex (0010,0040)."""

    M = "M"
    F = "F"
    O = "O"  # noqa: E741 - the DICOM code string
    UNKNOWN = ""


class Laterality(StrEnum):
    """Side of a finding, in the patient's frame."""

    RIGHT = "right"
    LEFT = "left"
    BILATERAL = "bilateral"


@dataclass(frozen=True)
class Image:
    """A chest radiograph as read from disk, ready for preprocessing.

    ``pixels`` are float32 in [0, 1], shape (H, W), with higher values brighter on a
    standard display (bone white): VOI windowing and MONOCHROME1 inversion are applied.
    ``column_toward_patient_left`` says whether increasing column index runs toward the
    patient's left (the normal PA/AP display), from DICOM Patient Orientation when known.
    """

    pixels: FloatArray  # (H, W) in [0, 1]
    source: str
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    view_position: ViewPosition = ViewPosition.UNKNOWN
    image_laterality: str | None = None
    patient_age_years: float | None = None
    patient_sex: PatientSex = PatientSex.UNKNOWN
    pixel_spacing_mm: tuple[float, float] | None = None
    modality: str | None = None
    body_part_examined: str | None = None
    column_toward_patient_left: bool = True

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.pixels.shape[0]), int(self.pixels.shape[1]))


@dataclass(frozen=True)
class ImageHeader:
    """What a file says about itself without decoding its pixels (``januscxr.io.read_header``).

    DICOM files carry the identifiers and patient attributes; PNG and JPEG only their size.
    Text values are stripped and None when absent or empty.
    """

    source: str
    format: str  # "dicom" | "png" | "jpeg"
    rows: int | None = None
    columns: int | None = None
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    accession_number: str | None = None
    patient_id: str | None = None
    patient_name: str | None = None
    patient_sex: PatientSex = PatientSex.UNKNOWN
    patient_age_years: float | None = None
    study_date: str | None = None
    study_time: str | None = None  # DICOM TM, HHMMSS.FFFFFF
    study_description: str | None = None
    modality: str | None = None
    body_part_examined: str | None = None
    view_position: ViewPosition = ViewPosition.UNKNOWN


@dataclass(frozen=True)
class FindingResult:
    """The classifier's call on one finding for one image, at its two operating points.

    - ``threshold``, the sensitive point: ``flagged`` when ``probability >= threshold``; a
      flagged finding is written into the draft.
    - ``urgent_threshold``, the specific point (high specificity, chosen on held-out cases):
      ``urgent`` when ``probability >= urgent_threshold`` as well; only an urgent finding raises
      the worklist. None when the model has no reliable specific point for the finding (chosen
      on too few positives): such a finding is never urgent.
    - ``uncertain``: flagged, yet under 0.5 or under the specific point: drafted as "possible".
    - ``critical``: urgent and a critical finding (:data:`januscxr.labels.CRITICAL`).
    """

    finding: Finding
    probability: float  # calibrated
    threshold: float  # sensitive operating point: flagged when probability >= threshold
    heatmap: FloatArray | None = None  # (h, w) in [0, 1], model input grid; flagged only
    laterality: Laterality | None = None
    urgent_threshold: float | None = None  # specific operating point; None: never urgent

    @property
    def flagged(self) -> bool:
        return self.probability >= self.threshold

    @property
    def urgent(self) -> bool:
        """Flagged at the specific operating point too: raises the worklist."""
        return self.urgent_threshold is not None and self.flagged and self.probability >= self.urgent_threshold

    @property
    def critical(self) -> bool:
        """Urgent and a critical finding: what puts a study at the top of the worklist."""
        return self.urgent and self.finding.is_critical

    @property
    def uncertain(self) -> bool:
        """Flagged, yet less likely than not or under a reliable specific point: reported as "possible"."""
        below_specific = self.urgent_threshold is not None and self.probability < self.urgent_threshold
        return self.flagged and (self.probability < UNCERTAIN_BELOW or below_specific)


# A flagged finding whose calibrated probability is under this reads as "possible ...".
UNCERTAIN_BELOW = 0.5


@dataclass(frozen=True)
class Prediction:
    """A classifier's output for one image: one result per finding it supports."""

    findings: dict[Finding, FindingResult]
    model_id: str
    model_version: str

    def ordered(self) -> list[FindingResult]:
        """Flagged findings first (critical and most urgent first), then the rest."""
        flagged = sort_by_urgency([f for f, r in self.findings.items() if r.flagged])
        rest = sorted(
            (f for f, r in self.findings.items() if not r.flagged),
            key=lambda f: -self.findings[f].probability,
        )
        return [self.findings[f] for f in flagged + rest]


@dataclass(frozen=True)
class DraftReport:
    """A report draft with its two sections, as a radiologist will review it."""

    findings: str
    impression: str
    reporter: str

    @property
    def text(self) -> str:
        return f"FINDINGS:\n{self.findings}\n\nIMPRESSION:\n{self.impression}"


class DiscordanceKind(StrEnum):
    """How a drafted report disagrees with the classifier."""

    REPORT_DENIES = "report_denies"  # the classifier flags it, the report says it is absent
    REPORT_OMITS = "report_omits"  # the classifier flags it, the report does not mention it
    REPORT_ASSERTS = "report_asserts"  # the report says it is present, the classifier scores it low


@dataclass(frozen=True)
class Discordance:
    """One disagreement between the draft and the classifier, for the reading room to highlight."""

    finding: Finding
    kind: DiscordanceKind
    probability: float
    threshold: float
    sentence: str | None = None  # the report sentence behind the report's label

    @property
    def critical(self) -> bool:
        return self.finding.is_critical


@dataclass(frozen=True)
class ReadResult:
    """Everything one read of one image produced."""

    image: Image
    prediction: Prediction
    report: DraftReport
    timings_ms: dict[str, float] = field(default_factory=dict)
    discordances: tuple[Discordance, ...] = ()

    @property
    def findings(self) -> dict[Finding, FindingResult]:
        return self.prediction.findings

    @property
    def flagged(self) -> list[FindingResult]:
        return [r for r in self.prediction.ordered() if r.flagged]

    @property
    def source(self) -> Path:
        return Path(self.image.source)
