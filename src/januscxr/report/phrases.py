"""The sentences the composer writes, per finding. Our own wording, from no dataset.

``{side}`` becomes "right ", "left " or "bilateral " (or nothing when the side is unknown);
the composer capitalises each sentence and impression line. Every phrase here is read back by
:func:`januscxr.labeler.label_report` in ``tests/report/test_coherence.py``: a sentence must
name its own finding, with the intended certainty, and no other.
"""

from __future__ import annotations

from januscxr.labels import Finding

# FINDINGS: one sentence per flagged finding outside the airspace group below.
FINDING_SENTENCES: dict[Finding, str] = {
    Finding.PNEUMOTHORAX: "There is a {side}pneumothorax.",
    Finding.EDEMA: "There is pulmonary edema.",
    Finding.PLEURAL_EFFUSION: "There is a {side}pleural effusion.",
    Finding.LUNG_LESION: "There is a {side}pulmonary nodule or mass.",
    Finding.FRACTURE: "There is a rib or other osseous fracture.",
    Finding.CARDIOMEGALY: "The cardiac silhouette is enlarged.",
    Finding.ATELECTASIS: "There is {side}atelectasis.",
    Finding.ENLARGED_CARDIOMEDIASTINUM: "The mediastinum is widened.",
    Finding.PLEURAL_OTHER: "There is {side}pleural thickening.",
    # "Support devices" alone is not in the labeler's vocabulary; a catheter is.
    Finding.SUPPORT_DEVICES: "A catheter, tube or other support device is present.",
}

# The same, hedged, for flagged findings in the "possible" band.
POSSIBLE_SENTENCES: dict[Finding, str] = {
    Finding.PNEUMOTHORAX: "A {side}pneumothorax is possible.",
    Finding.EDEMA: "Possible mild pulmonary edema.",
    Finding.PLEURAL_EFFUSION: "Possible {side}pleural effusion.",
    Finding.LUNG_LESION: "Possible {side}pulmonary nodule.",
    Finding.FRACTURE: "Possible osseous fracture.",
    Finding.CARDIOMEGALY: "The cardiac silhouette is possibly enlarged.",
    Finding.ATELECTASIS: "Possible {side}atelectasis.",
    Finding.ENLARGED_CARDIOMEDIASTINUM: "The mediastinum is possibly widened.",
    Finding.PLEURAL_OTHER: "Possible {side}pleural thickening.",
    Finding.SUPPORT_DEVICES: "Possible catheter, tube or other support device.",
}

# IMPRESSION: a short noun phrase per flagged finding; "possible " goes before it when hedged.
IMPRESSION_PHRASES: dict[Finding, str] = {
    Finding.PNEUMOTHORAX: "{side}pneumothorax",
    Finding.EDEMA: "pulmonary edema",
    Finding.PLEURAL_EFFUSION: "{side}pleural effusion",
    Finding.LUNG_LESION: "{side}pulmonary nodule or mass; further evaluation advised",
    Finding.FRACTURE: "fracture",
    Finding.CARDIOMEGALY: "cardiomegaly",
    Finding.ATELECTASIS: "{side}atelectasis",
    Finding.ENLARGED_CARDIOMEDIASTINUM: "widened mediastinum",
    Finding.PLEURAL_OTHER: "{side}pleural thickening",
    Finding.SUPPORT_DEVICES: "catheter, tube or other support device in place",
}

# The airspace group: Lung Opacity, Consolidation and Pneumonia overlap (a consolidation is an
# airspace opacity, pneumonia is read from one), so they share one sentence and one impression
# line. The opacity and the consolidation describe; pneumonia interprets what they show.
AIRSPACE_FINDINGS = (Finding.PNEUMONIA, Finding.CONSOLIDATION, Finding.LUNG_OPACITY)
OPACITY = "{side}airspace opacity"
CONSOLIDATION = "{side}consolidation"
WITH_CONSOLIDATION = " with consolidation"
WITH_POSSIBLE_CONSOLIDATION = " with possible consolidation"
OR_CONSOLIDATION = " or consolidation"
PRESENT_DESCRIPTION = "there is {description}"
POSSIBLE_DESCRIPTION = "possible {description}"
# After a description, in FINDINGS and in IMPRESSION.
PNEUMONIA_AFTER = " in keeping with pneumonia"
POSSIBLE_PNEUMONIA_AFTER = ", which could represent pneumonia"
PNEUMONIA_AFTER_IMPRESSION = ", likely pneumonia"
POSSIBLE_PNEUMONIA_AFTER_IMPRESSION = ", possibly pneumonia"
# Pneumonia with no description to lean on, or more certain than the description.
PNEUMONIA_ALONE = "findings in keeping with {side}pneumonia"
PNEUMONIA_ALONE_IMPRESSION = "{side}pneumonia"
POSSIBLE_PNEUMONIA_ALONE = "possible {side}pneumonia"
THEN_POSSIBLE_CONSOLIDATION = ", with possible consolidation"

# Negative statements for assessed findings that were not flagged, by anatomy.
LUNG_FINDINGS = (
    Finding.LUNG_OPACITY,
    Finding.CONSOLIDATION,
    Finding.PNEUMONIA,
    Finding.ATELECTASIS,
    Finding.EDEMA,
)
PLEURAL_FINDINGS = (Finding.PLEURAL_EFFUSION, Finding.PNEUMOTHORAX, Finding.PLEURAL_OTHER)
NEGATIVE_GROUPS = (LUNG_FINDINGS, (Finding.LUNG_LESION,), PLEURAL_FINDINGS)
NEGATIVE_NAMES: dict[Finding, str] = {
    Finding.LUNG_OPACITY: "airspace opacity",
    Finding.CONSOLIDATION: "consolidation",
    Finding.PNEUMONIA: "pneumonia",
    Finding.ATELECTASIS: "atelectasis",
    Finding.EDEMA: "pulmonary edema",
    Finding.LUNG_LESION: "pulmonary nodule or mass",
    Finding.PLEURAL_EFFUSION: "pleural effusion",
    Finding.PNEUMOTHORAX: "pneumothorax",
    Finding.PLEURAL_OTHER: "pleural thickening",
}
# A finding is not denied beside a flagged finding that implies it or that it would explain:
# "no airspace opacity" beside pneumonia contradicts it, "no pneumonia" beside an opacity
# rules out what the radiograph cannot.
NOT_DENIED_BESIDE: dict[Finding, frozenset[Finding]] = {
    Finding.LUNG_OPACITY: frozenset({Finding.PNEUMONIA, Finding.CONSOLIDATION, Finding.EDEMA, Finding.ATELECTASIS}),
    Finding.CONSOLIDATION: frozenset({Finding.PNEUMONIA}),
    Finding.PNEUMONIA: frozenset({Finding.LUNG_OPACITY, Finding.CONSOLIDATION}),
}
NORMAL_HEART = "The heart size is normal."
NORMAL_MEDIASTINUM = "The mediastinal contours are within normal limits."
NORMAL_CARDIOMEDIASTINUM = "The cardiomediastinal silhouette is within normal limits."
NORMAL_IMPRESSION = "No acute cardiopulmonary abnormality."
# When the classifier leaves findings unassessed, a normal impression claims no more than it saw.
NORMAL_ASSESSED_IMPRESSION = "No acute abnormality among the findings assessed."

# Findings the classifier does not score, named in FINDINGS so that silence is not read as
# absence. After "detection of", the labeler reads the list as no statement about the patient,
# as far as that phrase reaches: 12 words (labeler/context.py, PRE_REACH). A name that would
# start further away goes to a second sentence.
NOT_ASSESSED = "The AI is not designed for detection of {names}."
NOT_ASSESSED_MORE = "It is also not designed for detection of {names}."
NOT_ASSESSED_LIST_WORDS = 12
NOT_ASSESSED_NAMES: dict[Finding, tuple[str, ...]] = {
    Finding.PNEUMOTHORAX: ("pneumothorax",),
    Finding.PNEUMONIA: ("pneumonia",),
    Finding.CONSOLIDATION: ("consolidation",),
    Finding.EDEMA: ("edema",),
    Finding.PLEURAL_EFFUSION: ("pleural effusion",),
    Finding.LUNG_LESION: ("nodule", "mass"),
    Finding.FRACTURE: ("fracture",),
    Finding.CARDIOMEGALY: ("cardiomegaly",),
    Finding.ATELECTASIS: ("atelectasis",),
    Finding.LUNG_OPACITY: ("airspace opacity",),
    Finding.ENLARGED_CARDIOMEDIASTINUM: ("mediastinal widening",),
    Finding.PLEURAL_OTHER: ("pleural thickening",),
    Finding.SUPPORT_DEVICES: ("support devices",),
}
