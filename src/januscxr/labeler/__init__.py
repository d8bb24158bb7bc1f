"""Rule-based, offline labeling of radiology report text into the 14 CheXpert observations.

>>> from januscxr.labeler import label_report
>>> label_report("No pneumothorax. Small left pleural effusion.").positive
(<Finding.PLEURAL_EFFUSION: 'Pleural Effusion'>,)
"""

from __future__ import annotations

from januscxr.labeler.annotation import FindingLabel, Mention, NoFindingRule, ReportLabels
from januscxr.labeler.rules import label_report, label_reports

__all__ = ["FindingLabel", "Mention", "NoFindingRule", "ReportLabels", "label_report", "label_reports"]
