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
    assert Finding.PNEUMONIA in result.findings
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
