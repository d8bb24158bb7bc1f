"""The coded concepts of the findings (labels.FINDING_CODES) and of the presence values."""

from __future__ import annotations

from pydicom.sr.codedict import codes

from januscxr.interop import Presence
from januscxr.labels import FINDING_CODES, LOCAL_CODING_SCHEME, Finding


def test_every_finding_has_one_distinct_code() -> None:
    assert set(FINDING_CODES) == set(Finding)
    assert len({(c.scheme, c.value) for c in FINDING_CODES.values()}) == len(Finding)
    assert {c.scheme for c in FINDING_CODES.values()} <= {"SCT", "DCM", LOCAL_CODING_SCHEME}
    for finding in Finding:
        code = finding.code
        assert 0 < len(code.value) <= 16 and 0 < len(code.meaning) <= 64  # DICOM SH and LO
        if code.scheme == "SCT":
            assert code.value.isdigit()


def test_codes_agree_with_dicoms_code_dictionary() -> None:
    """Where DICOM's own dictionary (pydicom.sr.codedict) names the concept, the value is DICOM's."""
    for finding, concept in [
        (Finding.PNEUMOTHORAX, codes.SCT.Pneumothorax),
        (Finding.PLEURAL_EFFUSION, codes.SCT.PleuralEffusion),
        (Finding.EDEMA, codes.SCT.PulmonaryEdema),
        (Finding.LUNG_OPACITY, codes.DCM.Opacity),
        (Finding.NO_FINDING, codes.SCT.ImagingResultNormal),
    ]:
        assert (finding.code.scheme, finding.code.value) == (concept.scheme_designator, concept.value)
    assert Presence.PRESENT.code.value == codes.SCT.Present.value
    assert Presence.ABSENT.code.value == codes.SCT.Absent.value
    assert Presence.POSSIBLE.code.value == codes.SCT.Suspected.value
