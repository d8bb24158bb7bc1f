"""The Python API: januscxr.read() end to end."""

from __future__ import annotations

import numpy as np
import pytest

import januscxr
from januscxr.errors import LateralViewError
from januscxr.labels import Finding
from januscxr.pipeline import read_many


def test_read_with_the_fake_classifier(write_cr):
    result = januscxr.read(write_cr(), classifier="fake-classifier")
    assert result.findings["Pneumothorax"].flagged and result.findings["Pneumothorax"].critical
    assert result.flagged[0].finding is Finding.PNEUMOTHORAX
    assert "pneumothorax" in result.report.impression.lower()
    assert result.prediction.model_id == "fake-classifier"
    assert set(result.timings_ms) == {"read_ms", "classify_ms", "report_ms", "total_ms"}
    assert result.findings["Pneumothorax"].heatmap is not None


def test_read_with_the_bundled_classifier(write_cr):
    result = januscxr.read(write_cr())
    assert result.prediction.model_id == "cxrnet-res128-kermany-nih"
    # only what it offers: its pneumonia output is at chance on adult radiographs and withheld
    assert set(result.findings) == {Finding.PLEURAL_EFFUSION, Finding.CARDIOMEGALY}
    for finding in result.findings.values():
        assert 0.0 <= finding.probability <= 1.0
        assert (finding.heatmap is not None) == finding.flagged
    assert result.report.findings and result.report.impression


def test_read_many_keeps_going(write_cr, tmp_path):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\x00" * 10)
    outcomes = list(read_many([write_cr(), bad, write_cr()], classifier="fake-classifier"))
    assert [type(o).__name__ for _, o in outcomes] == ["ReadResult", "ImageReadError", "ReadResult"]


def test_lateral_refused_by_default(write_cr):
    path = write_cr(ViewPosition="LL")
    with pytest.raises(LateralViewError):
        januscxr.read(path, classifier="fake-classifier")
    assert (
        januscxr.read(path, classifier="fake-classifier", require_frontal=False).image.view_position.value == "LATERAL"
    )


def test_heatmaps_can_be_skipped(write_cr):
    result = januscxr.read(write_cr(), classifier="fake-classifier", heatmaps=False)
    assert all(f.heatmap is None for f in result.findings.values())
    assert np.isfinite([f.probability for f in result.findings.values()]).all()


class RefusingGate:
    """Refuses everything, so tests can see that nothing is scored after a refusal."""

    spec = None

    def check(self, images):
        from januscxr.models.base import GateDecision

        return [GateDecision(accepted=False, reason="looks like random noise") for _ in images]


def test_a_refused_image_is_never_scored(write_cr):
    from januscxr.errors import NotChestRadiographError, exit_code_for
    from januscxr.models.registry import load_classifier

    classifier = load_classifier("fake-classifier")
    path = write_cr(name="noise.dcm")
    with pytest.raises(
        NotChestRadiographError, match=r"noise\.dcm: not a frontal chest radiograph: looks like random noise"
    ):
        januscxr.read(path, classifier=classifier, gate=RefusingGate())
    assert classifier.calls == 0
    outcomes = list(read_many([path, path], classifier=classifier, gate=RefusingGate()))
    assert [type(o).__name__ for _, o in outcomes] == ["NotChestRadiographError"] * 2
    assert exit_code_for(outcomes[0][1]) == 4 and classifier.calls == 0


def test_gate_is_an_argument_by_name_or_backend(write_cr):
    from januscxr.models.registry import load_gate

    fake = load_gate("fake-gate")
    assert januscxr.read(write_cr(), classifier="fake-classifier", gate=fake).prediction.model_id == "fake-classifier"
    assert fake.calls == 1
    assert januscxr.read(write_cr(), classifier="fake-classifier", gate="fake-gate").findings


@pytest.mark.real_gate
def test_the_bundled_gate_is_the_default(tmp_path):
    from PIL import Image as PILImage

    from januscxr.errors import NotChestRadiographError

    path = tmp_path / "noise.png"
    PILImage.fromarray(np.random.default_rng(0).integers(0, 256, (256, 256), dtype=np.uint8)).save(path)
    with pytest.raises(NotChestRadiographError, match="not a frontal chest radiograph"):
        januscxr.read(path)
