"""The sentences the composer writes, per finding. Our own wording, from no dataset.

``{side}`` becomes "right ", "left " or "bilateral " (or nothing when the side is unknown).
"""

from __future__ import annotations

from januscxr.labels import Finding

# FINDINGS section: one sentence per flagged finding.
FINDING_SENTENCES: dict[Finding, str] = {
    Finding.PNEUMOTHORAX: "There is a {side}pneumothorax.",
    Finding.PNEUMONIA: "There is {side}airspace opacity in keeping with pneumonia.",
    Finding.CONSOLIDATION: "There is {side}consolidation.",
    Finding.EDEMA: "There is interstitial and perihilar opacity in keeping with pulmonary edema.",
    Finding.PLEURAL_EFFUSION: "There is a {side}pleural effusion.",
    Finding.LUNG_LESION: "There is a {side}pulmonary nodule or mass.",
    Finding.FRACTURE: "There is a rib or other osseous fracture.",
    Finding.CARDIOMEGALY: "The cardiac silhouette is enlarged.",
    Finding.ATELECTASIS: "There is {side}atelectasis.",
    Finding.LUNG_OPACITY: "There is {side}patchy airspace opacity.",
    Finding.ENLARGED_CARDIOMEDIASTINUM: "The cardiomediastinal silhouette is widened.",
    Finding.PLEURAL_OTHER: "There is {side}pleural thickening.",
    Finding.SUPPORT_DEVICES: "Support devices are present.",
}

# The same, hedged, for flagged findings in the uncertain band.
POSSIBLE_SENTENCES: dict[Finding, str] = {
    Finding.PNEUMOTHORAX: "A {side}pneumothorax is possible.",
    Finding.PNEUMONIA: "Possible {side}airspace opacity, which could represent pneumonia.",
    Finding.CONSOLIDATION: "Possible {side}consolidation.",
    Finding.EDEMA: "Possible mild pulmonary edema.",
    Finding.PLEURAL_EFFUSION: "Possible {side}pleural effusion.",
    Finding.LUNG_LESION: "Possible {side}pulmonary nodule.",
    Finding.FRACTURE: "Possible osseous fracture.",
    Finding.CARDIOMEGALY: "The cardiac silhouette is possibly enlarged.",
    Finding.ATELECTASIS: "Possible {side}atelectasis.",
    Finding.LUNG_OPACITY: "Possible {side}patchy airspace opacity.",
    Finding.ENLARGED_CARDIOMEDIASTINUM: "The cardiomediastinal silhouette is possibly widened.",
    Finding.PLEURAL_OTHER: "Possible {side}pleural thickening.",
    Finding.SUPPORT_DEVICES: "Possible support devices.",
}

# IMPRESSION: a short noun phrase per flagged finding.
IMPRESSION_PHRASES: dict[Finding, str] = {
    Finding.PNEUMOTHORAX: "{Side}pneumothorax",
    Finding.PNEUMONIA: "{Side}airspace disease, likely pneumonia",
    Finding.CONSOLIDATION: "{Side}consolidation",
    Finding.EDEMA: "Pulmonary edema",
    Finding.PLEURAL_EFFUSION: "{Side}pleural effusion",
    Finding.LUNG_LESION: "{Side}pulmonary nodule or mass; further evaluation advised",
    Finding.FRACTURE: "Fracture",
    Finding.CARDIOMEGALY: "Cardiomegaly",
    Finding.ATELECTASIS: "{Side}atelectasis",
    Finding.LUNG_OPACITY: "{Side}airspace opacity",
    Finding.ENLARGED_CARDIOMEDIASTINUM: "Widened cardiomediastinal silhouette",
    Finding.PLEURAL_OTHER: "{Side}pleural thickening",
    Finding.SUPPORT_DEVICES: "Support devices in place",
}

# Negative statements for assessed findings that were not flagged, by anatomy.
LUNG_FINDINGS = (
    Finding.PNEUMONIA,
    Finding.CONSOLIDATION,
    Finding.LUNG_OPACITY,
    Finding.ATELECTASIS,
    Finding.EDEMA,
    Finding.LUNG_LESION,
)
PLEURAL_FINDINGS = (Finding.PLEURAL_EFFUSION, Finding.PNEUMOTHORAX, Finding.PLEURAL_OTHER)
NEGATIVE_NAMES: dict[Finding, str] = {
    Finding.PNEUMONIA: "focal airspace disease",
    Finding.CONSOLIDATION: "consolidation",
    Finding.LUNG_OPACITY: "airspace opacity",
    Finding.ATELECTASIS: "atelectasis",
    Finding.EDEMA: "pulmonary edema",
    Finding.LUNG_LESION: "pulmonary nodule or mass",
    Finding.PLEURAL_EFFUSION: "pleural effusion",
    Finding.PNEUMOTHORAX: "pneumothorax",
    Finding.PLEURAL_OTHER: "pleural thickening",
}
NORMAL_HEART = "The heart size is normal."
NORMAL_MEDIASTINUM = "The cardiomediastinal silhouette is within normal limits."
NORMAL_IMPRESSION = "No acute cardiopulmonary abnormality."
