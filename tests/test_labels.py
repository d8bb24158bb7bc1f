from __future__ import annotations

import pytest

from januscxr.labels import CHEXPERT_14, CRITICAL, URGENCY, Finding, sort_by_urgency


def test_the_14_chexpert_observations():
    assert len(CHEXPERT_14) == 14
    assert {f.value for f in CHEXPERT_14} >= {"No Finding", "Pleural Effusion", "Support Devices", "Lung Lesion"}


def test_required_findings_are_critical():
    required = {
        "Pneumothorax",
        "Pleural Effusion",
        "Consolidation",
        "Pneumonia",
        "Cardiomegaly",
        "Lung Lesion",
        "Edema",
        "Atelectasis",
        "Fracture",
    }
    assert {f.value for f in CRITICAL} >= required
    assert not Finding.NO_FINDING.is_critical and not Finding.SUPPORT_DEVICES.is_critical


def test_urgency_orders_every_finding_once():
    assert sorted(URGENCY) == sorted(Finding)
    ordered = sort_by_urgency([Finding.SUPPORT_DEVICES, Finding.CARDIOMEGALY, Finding.PNEUMOTHORAX])
    assert ordered == [Finding.PNEUMOTHORAX, Finding.CARDIOMEGALY, Finding.SUPPORT_DEVICES]


@pytest.mark.parametrize("text", ["Pleural Effusion", "pleural effusion", "PLEURAL_EFFUSION", "pleural-effusion"])
def test_coerce(text):
    assert Finding.coerce(text) is Finding.PLEURAL_EFFUSION


def test_coerce_unknown_names_the_choices():
    with pytest.raises(ValueError, match="unknown finding 'Hernia'; expected one of: No Finding"):
        Finding.coerce("Hernia")


def test_display_names_read_in_a_sentence():
    assert Finding.LUNG_OPACITY.display_name == "airspace opacity"
    assert Finding.PNEUMOTHORAX.display_name == "pneumothorax"


def test_findings_key_dicts_by_name():
    results = {Finding.PNEUMONIA: 0.7}
    assert results["Pneumonia"] == 0.7
