"""MeSH codes of the Indiana University chest X-ray reports -> CheXpert observations.

Open-i coders indexed each report with MeSH headings and qualifiers, ``|``-separated, each
``Heading/qualifier/qualifier`` (``Pleural Effusion/right/small``). This module turns a
report's ``mesh_major`` string into the findings a radiologist would label from it; the
reasons for each choice are in ``docs/labeler.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from januscxr.labels import Finding

NO_INDEXING: Final = "No Indexing"
NORMAL: Final = "normal"

# Heading -> findings, whatever the qualifiers.
HEADING_FINDINGS: Final[dict[str, frozenset[Finding]]] = {
    "Cardiomegaly": frozenset({Finding.CARDIOMEGALY}),
    "Pleural Effusion": frozenset({Finding.PLEURAL_EFFUSION}),
    "Hemothorax": frozenset({Finding.PLEURAL_EFFUSION}),
    "Hydropneumothorax": frozenset({Finding.PLEURAL_EFFUSION, Finding.PNEUMOTHORAX}),
    "Hemopneumothorax": frozenset({Finding.PLEURAL_EFFUSION, Finding.PNEUMOTHORAX}),
    "Pneumothorax": frozenset({Finding.PNEUMOTHORAX}),
    "Pulmonary Atelectasis": frozenset({Finding.ATELECTASIS}),
    "Pulmonary Edema": frozenset({Finding.EDEMA}),
    "Pulmonary Congestion": frozenset({Finding.EDEMA}),
    "Heart Failure": frozenset({Finding.EDEMA}),
    "Consolidation": frozenset({Finding.CONSOLIDATION}),
    "Pneumonia": frozenset({Finding.PNEUMONIA}),
    "Fractures, Bone": frozenset({Finding.FRACTURE}),
    "Lung Neoplasms": frozenset({Finding.LUNG_LESION}),
    "Cavitation": frozenset({Finding.LUNG_LESION}),
    "Airspace Disease": frozenset({Finding.LUNG_OPACITY}),
    "Infiltrate": frozenset({Finding.LUNG_OPACITY}),
    "Catheters, Indwelling": frozenset({Finding.SUPPORT_DEVICES}),
    "Implanted Medical Device": frozenset({Finding.SUPPORT_DEVICES}),
    "Surgical Instruments": frozenset({Finding.SUPPORT_DEVICES}),
    "Tube, Inserted": frozenset({Finding.SUPPORT_DEVICES}),
    "Medical Device": frozenset({Finding.SUPPORT_DEVICES}),
    "Stents": frozenset({Finding.SUPPORT_DEVICES}),
}

# Headings that say nothing about the patient's chest: they neither label a finding nor
# rule out "No Finding".
NEUTRAL_HEADINGS: Final = frozenset({NORMAL, "Technical Quality of Image Unsatisfactory"})

_NOT_LUNG: Final = frozenset({"breast", "mediastinum", "paratracheal", "heart", "pleura", "ribs", "clavicle"})
_ENLARGED: Final = frozenset({"enlarged", "borderline"})
_MEDIASTINUM_ENLARGED: Final = frozenset({"enlarged", "prominent", "widened"})
_PLEURAL_OTHER: Final = frozenset({"Thickening", "Cicatrix", "Pleura", "Costophrenic Angle"})


def findings_from_term(term: str) -> frozenset[Finding]:
    """The findings of one ``Heading/qualifier/...`` term (empty when it maps to none).

    Parameters
    ----------
    term
        One MeSH term as the IU reports carry it, e.g. ``"Nodule/lung/base/left"``.

    Returns
    -------
    frozenset of Finding
        The CheXpert observations the term asserts.
    """
    heading, *qualifiers = (part.strip() for part in term.split("/"))
    found = HEADING_FINDINGS.get(heading, frozenset())
    where = set(qualifiers)
    if heading == "Cardiac Shadow" and where & _ENLARGED:
        found = frozenset({Finding.CARDIOMEGALY})
    elif heading in {"Nodule", "Opacity", "Density"} and where & {"interstitial", "reticular"}:
        found = frozenset({Finding.LUNG_OPACITY})  # a reticulonodular interstitial pattern, not a nodule
    elif heading in {"Nodule", "Mass"} and not where & _NOT_LUNG:
        found = frozenset({Finding.LUNG_LESION})
    elif heading in {"Nodule", "Mass"} and "pleura" in where:
        found = frozenset({Finding.PLEURAL_OTHER})
    elif heading in {"Opacity", "Density"} and "lung" in where and "round" in where:
        found = frozenset({Finding.LUNG_LESION})  # a round lung opacity is a nodule or a mass
    elif heading in {"Opacity", "Density"} and where & {"lung", "pulmonary alveoli", "retrocardiac"}:
        found = frozenset({Finding.LUNG_OPACITY})
    elif heading == "Mediastinum" and where & _MEDIASTINUM_ENLARGED:
        found = frozenset({Finding.ENLARGED_CARDIOMEDIASTINUM})
    elif heading in _PLEURAL_OTHER and (
        "pleura" in where or (heading == "Costophrenic Angle" and "blunted" in where) or heading == "Pleura"
    ):
        found = frozenset({Finding.PLEURAL_OTHER})
    return found


@dataclass(frozen=True, slots=True)
class MeshCoding:
    """What a report's MeSH coding says: findings asserted, and findings coded only as borderline.

    A ``borderline`` qualifier ("Cardiomegaly/borderline") is the coder's own hedge; such a
    finding is neither asserted nor denied and is left out of the scoring of its category.
    """

    findings: frozenset[Finding]
    borderline: frozenset[Finding]


def read_mesh(mesh_major: str) -> MeshCoding | None:
    """The findings a report's MeSH coding asserts, ``No Finding`` included.

    ``No Finding`` is asserted when every term is ``normal``, a support device or a
    technical remark: devices do not rule it out, as in the labeler.

    Parameters
    ----------
    mesh_major
        The ``mesh_major`` column: ``|``-separated terms.

    Returns
    -------
    MeshCoding or None
        ``None`` when the report was not indexed (``No Indexing``) or carries no code.
    """
    terms = [t.strip() for t in mesh_major.split("|") if t.strip()]
    if not terms or any(_heading(t) == NO_INDEXING for t in terms):
        return None
    found: set[Finding] = set()
    borderline: set[Finding] = set()
    is_normal = True
    for term in terms:
        term_findings = findings_from_term(term)
        if "borderline" in term.split("/"):
            borderline |= term_findings
        else:
            found |= term_findings
        if _heading(term) not in NEUTRAL_HEADINGS and term_findings != {Finding.SUPPORT_DEVICES}:
            is_normal = False
    if is_normal:
        found.add(Finding.NO_FINDING)
    return MeshCoding(frozenset(found), frozenset(borderline - found))


def _heading(term: str) -> str:
    """The MeSH heading of a term: the part before the first slash."""
    return term.split("/")[0].strip()
