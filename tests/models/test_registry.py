"""Registry lookups and verified loading, including a sha256 mismatch."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from januscxr.errors import ChecksumMismatchError, UnknownModelError, WeightsNotFoundError
from januscxr.labels import Finding
from januscxr.models import registry
from januscxr.models.base import Classifier
from januscxr.models.registry import DEFAULT_CLASSIFIER, get_classifier_spec, load_classifier, verify_weights
from tests.models.tiny import write_tiny_classifier


@pytest.fixture
def tiny_registered(tmp_path, monkeypatch):
    spec = write_tiny_classifier(tmp_path / "tiny.safetensors")
    monkeypatch.setitem(registry._CLASSIFIERS, spec.model_id, spec)
    return spec, tmp_path


def test_the_bundled_classifier_is_the_default_and_loads_verified():
    spec = get_classifier_spec(DEFAULT_CLASSIFIER)
    assert not spec.test_double and spec.sha256 and len(spec.sha256) == 64
    verify_weights(registry.WEIGHTS_DIR / spec.weights, spec.sha256)
    classifier = load_classifier()
    assert isinstance(classifier, Classifier)
    assert classifier.spec.model_id == DEFAULT_CLASSIFIER


def test_the_bundled_classifier_scores_only_its_offered_findings(write_cr):
    """Findings whose cross-validated AUC CI does not clear 0.6 stay inside the network, unreported."""
    from januscxr.io import read_image

    spec = get_classifier_spec(DEFAULT_CLASSIFIER)
    classifier = load_classifier()
    (prediction,) = classifier.predict([read_image(write_cr())], heatmaps=False)
    assert set(prediction.findings) == set(spec.labels)
    assert set(spec.labels) < set(classifier.findings)  # outputs exist for findings it does not offer


def test_registry_labels_narrow_the_offered_findings(tmp_path):
    spec = write_tiny_classifier(tmp_path / "tiny.safetensors")
    narrowed = dataclasses.replace(spec, labels=(Finding.PNEUMONIA,))
    classifier = narrowed.factory(narrowed, tmp_path / "tiny.safetensors")
    assert [classifier.findings[k] for k in classifier.offered] == [Finding.PNEUMONIA]
    unnarrowed = dataclasses.replace(spec, labels=())
    assert len(unnarrowed.factory(unnarrowed, tmp_path / "tiny.safetensors").offered) >= 1


def test_bundled_weights_stay_small():
    spec = get_classifier_spec(DEFAULT_CLASSIFIER)
    assert (registry.WEIGHTS_DIR / spec.weights).stat().st_size <= 25 * 1024 * 1024


def test_fake_classifier_is_a_test_double():
    assert get_classifier_spec("fake-classifier").test_double
    assert DEFAULT_CLASSIFIER != "fake-classifier"


def test_unknown_model_lists_the_registered_ones():
    with pytest.raises(UnknownModelError, match="no classifier named 'nope'; registered: .*fake-classifier"):
        load_classifier("nope")


def test_load_from_a_weights_dir(tiny_registered):
    spec, folder = tiny_registered
    assert load_classifier(spec.model_id, weights_dir=folder).spec is spec


def test_sha256_mismatch_is_refused(tiny_registered, tmp_path_factory):
    spec, folder = tiny_registered
    damaged = tmp_path_factory.mktemp("damaged")
    shutil.copy(folder / spec.weights, damaged / spec.weights)
    data = bytearray((damaged / spec.weights).read_bytes())
    data[-1] ^= 0xFF
    (damaged / spec.weights).write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError, match=f"expected {spec.sha256} from the registry"):
        load_classifier(spec.model_id, weights_dir=damaged)


def test_missing_weights(tiny_registered, tmp_path_factory, monkeypatch):
    spec, _ = tiny_registered
    with pytest.raises(WeightsNotFoundError, match="weights file not found"):
        load_classifier(spec.model_id, weights_dir=tmp_path_factory.mktemp("empty"))


def test_registry_without_sha_refuses(tiny_registered, monkeypatch):
    spec, folder = tiny_registered
    monkeypatch.setitem(registry._CLASSIFIERS, spec.model_id, dataclasses.replace(spec, sha256=None))
    with pytest.raises(ChecksumMismatchError):
        load_classifier(spec.model_id, weights_dir=folder)
