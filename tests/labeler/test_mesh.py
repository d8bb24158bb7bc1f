"""MeSH codes -> findings, on coding strings in the Open-i style."""

from __future__ import annotations

from januscxr.labeler.mesh import findings_from_term, read_mesh
from januscxr.labels import Finding


def test_headings_map_to_findings() -> None:
    assert findings_from_term("Pleural Effusion/right/small") == {Finding.PLEURAL_EFFUSION}
    assert findings_from_term("Pulmonary Atelectasis/base/left") == {Finding.ATELECTASIS}
    assert findings_from_term("Pulmonary Congestion/mild") == {Finding.EDEMA}
    assert findings_from_term("Fractures, Bone/ribs/left/healed") == {Finding.FRACTURE}
    assert findings_from_term("Hydropneumothorax/right") == {Finding.PLEURAL_EFFUSION, Finding.PNEUMOTHORAX}
    assert findings_from_term("Catheters, Indwelling/right") == {Finding.SUPPORT_DEVICES}
    assert findings_from_term("Calcified Granuloma/lung/upper lobe/left") == frozenset()


def test_qualifiers_decide() -> None:
    assert findings_from_term("Cardiac Shadow/enlarged/mild") == {Finding.CARDIOMEGALY}
    assert findings_from_term("Cardiac Shadow/irregular") == frozenset()
    assert findings_from_term("Nodule/lung/base/right") == {Finding.LUNG_LESION}
    assert findings_from_term("Nodule/pleura/left") == {Finding.PLEURAL_OTHER}
    assert findings_from_term("Nodule/lung/bilateral/interstitial") == {Finding.LUNG_OPACITY}
    assert findings_from_term("Mass/breast/large") == frozenset()
    assert findings_from_term("Opacity/lung/upper lobe/right/round") == {Finding.LUNG_LESION}
    assert findings_from_term("Opacity/lung/base/left") == {Finding.LUNG_OPACITY}
    assert findings_from_term("Costophrenic Angle/right/blunted") == {Finding.PLEURAL_OTHER}


def test_no_indexing_and_empty_codes_are_not_codings() -> None:
    assert read_mesh("No Indexing") is None
    assert read_mesh("") is None


def test_no_finding_allows_devices_and_technical_remarks_only() -> None:
    assert Finding.NO_FINDING in read_mesh("normal").findings  # type: ignore[union-attr]
    devices = read_mesh("Implanted Medical Device/left|Technical Quality of Image Unsatisfactory ")
    assert devices is not None and devices.findings == {Finding.NO_FINDING, Finding.SUPPORT_DEVICES}
    hernia = read_mesh("Hernia, Hiatal/large")
    assert hernia is not None and hernia.findings == frozenset()


def test_borderline_codes_are_kept_apart() -> None:
    coding = read_mesh("Cardiomegaly/borderline|Pleural Effusion/left")
    assert coding is not None
    assert coding.findings == {Finding.PLEURAL_EFFUSION}
    assert coding.borderline == {Finding.CARDIOMEGALY}
    both = read_mesh("Cardiomegaly/borderline|Cardiomegaly/mild")
    assert both is not None and both.findings == {Finding.CARDIOMEGALY} and both.borderline == frozenset()
