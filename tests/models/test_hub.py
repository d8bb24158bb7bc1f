"""Registered reporters, missing-weights messages, pull (with a fake hub), verify."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import huggingface_hub
import pytest

from januscxr.errors import ChecksumMismatchError, HubUnreachableError, UnknownModelError, WeightsNotFoundError
from januscxr.models import hub
from januscxr.models.expert_store import models_root
from januscxr.models.registry import REPORTER_FILE, find_reporter_spec, get_reporter_spec, reporter_specs
from tests.models.janus_tiny import write_tiny_original


def test_the_four_janus_models_are_registered_with_their_hub_repositories():
    repos = {spec.model_id: spec.hub_repo for spec in reporter_specs()}
    assert repos == {
        "janus-pro-cxr-final": "ZrH42/Janus-Pro-CXR-Final",
        "janus-pro-cxr-zero": "ZrH42/Janus-Pro-CXR-Zero",
        "janus-pro-1b": "deepseek-ai/Janus-Pro-1B",
        "janus-pro-7b": "deepseek-ai/Janus-Pro-7B",
    }
    with pytest.raises(UnknownModelError, match="registered: janus-pro-1b"):
        get_reporter_spec("janus-pro-cxr")


def test_missing_weights_say_what_is_missing_and_how_to_get_them(tmp_path):
    spec = get_reporter_spec("janus-pro-cxr-final")
    with pytest.raises(WeightsNotFoundError) as caught:
        hub.require_weights(spec, tmp_path)
    message = str(caught.value)
    assert f"no weights in {tmp_path / 'janus-pro-cxr-final'} (folder does not exist)" in message
    assert "januscxr models pull janus-pro-cxr-final" in message
    assert "https://huggingface.co/ZrH42/Janus-Pro-CXR-Final" in message
    assert f"januscxr models convert {tmp_path / 'janus-pro-cxr-final' / 'source'}" in message
    (tmp_path / "janus-pro-cxr-final").mkdir()
    with pytest.raises(WeightsNotFoundError, match=r"\(config.json missing, model.safetensors missing"):
        hub.require_weights(spec, tmp_path)


def test_a_trained_reporter_without_weights_is_told_to_restore_or_retrain_not_to_pull(tmp_path):
    folder = tmp_path / "janus-pro-cxr-mysite"
    folder.mkdir()
    description = {"model_id": folder.name, "layout": "hf", "description": "fine-tuned here", "licence": "as base"}
    (folder / REPORTER_FILE).write_text(json.dumps(description | {"parameters": "1B", "based_on": "janus-pro-1b"}))
    spec = find_reporter_spec(folder.name, tmp_path)  # the description survived; the weights were deleted
    with pytest.raises(WeightsNotFoundError) as caught:
        hub.require_weights(spec, tmp_path)
    message = str(caught.value)
    assert "\n" not in message and "models pull" not in message and "huggingface.co" not in message
    assert f"the trained reporter's folder {folder} is missing or incomplete (config.json missing" in message
    assert "restore the folder from a backup" in message
    assert f"januscxr train reporter --name {folder.name} --base janus-pro-1b" in message


def test_reporter_weights_and_experts_share_one_default_models_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    spec = get_reporter_spec("janus-pro-1b")
    assert hub.model_folder(spec) == models_root() / "janus-pro-1b" == tmp_path / ".cache/januscxr/models/janus-pro-1b"
    assert hub.model_folder(spec, Path("~/m")) == tmp_path / "m" / "janus-pro-1b"  # expanded like the experts' folder
    assert not hasattr(hub, "default_models_dir")


def test_pull_without_a_hub_is_one_line_with_the_manual_route(tmp_path, monkeypatch):
    def unreachable(self, *args, **kwargs):
        raise OSError("[Errno -2] Name or service not known")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", unreachable)
    with pytest.raises(HubUnreachableError) as caught:
        hub.pull_weights(get_reporter_spec("janus-pro-1b"), tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert "cannot download deepseek-ai/Janus-Pro-1B" in message and "copy the files of" in message


def test_pull_converts_records_sha256_and_verify_catches_changes(tmp_path, monkeypatch):
    class Info:
        sha = "0123456789abcdef0123456789abcdef01234567"

    def fake_download(repo_id, *, revision, local_dir):
        assert (repo_id, revision) == ("ZrH42/Janus-Pro-CXR-Zero", Info.sha)
        write_tiny_original(local_dir)
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", lambda self, repo, revision=None: Info())
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    spec = get_reporter_spec("janus-pro-cxr-zero")
    pulled = hub.pull_weights(spec, tmp_path)
    assert pulled.revision == Info.sha and (pulled.folder / "model.safetensors").is_file()
    manifest = hub.verify_weights_folder(spec, tmp_path)
    assert "source/model.safetensors" in manifest["files"] and "model.safetensors" in manifest["files"]
    assert all(len(digest) == 64 for digest in manifest["files"].values())

    weights = pulled.folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    (pulled.folder / "source" / "config.json").unlink()
    with pytest.raises(ChecksumMismatchError, match=r"missing: source/config.json; sha256 changed: model.safetensors"):
        hub.verify_weights_folder(spec, tmp_path)


def test_weights_copied_by_hand_need_a_recorded_manifest(tmp_path, tiny_janus_dir):
    spec = get_reporter_spec("janus-pro-cxr-final")
    shutil.copytree(tiny_janus_dir, tmp_path / spec.model_id)
    with pytest.raises(WeightsNotFoundError, match="--record"):
        hub.verify_weights_folder(spec, tmp_path)
    hub.write_manifest(tmp_path / spec.model_id, spec, None)
    assert len(hub.verify_weights_folder(spec, tmp_path)["files"]) == 7
