"""Settings: defaults < TOML file (JANUSCXR_CONFIG) < environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from januscxr.server.settings import load_settings


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "januscxr.toml"
    config.write_text('port = 9001\nhost = "0.0.0.0"\nstudy_mode = true\n', encoding="utf-8")
    monkeypatch.setenv("JANUSCXR_CONFIG", str(config))
    monkeypatch.setenv("JANUSCXR_PORT", "9002")
    settings = load_settings(host=None, study_mode=False)
    assert (settings.host, settings.port, settings.study_mode) == ("0.0.0.0", 9002, False)
    assert load_settings(port=9003).port == 9003
    assert load_settings(data_dir=tmp_path).resolved_database_url == f"sqlite:///{tmp_path / 'januscxr.db'}"
