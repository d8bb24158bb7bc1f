"""``januscxr users add`` and ``januscxr serve`` as typer commands."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from januscxr.cli import serve, users
from januscxr.storage.database import open_database
from januscxr.storage.users import find_user


def test_users_add_and_list(tmp_path: Path) -> None:
    runner = CliRunner()
    data = str(tmp_path / "data")
    result = runner.invoke(
        users.app,
        ["add", "alice", "--role", "resident", "--password-stdin", "--data-dir", data],
        input="long enough pw\n",
    )
    assert result.exit_code == 0, result.output
    assert "added resident 'alice'" in result.output
    short = runner.invoke(users.app, ["add", "bob", "--password-stdin", "--data-dir", data], input="short\n")
    assert short.exit_code != 0
    listed = runner.invoke(users.app, ["list", "--data-dir", data])
    assert "alice\tresident" in listed.output
    db = open_database(f"sqlite:///{(tmp_path / 'data' / 'januscxr.db').resolve()}")
    with db.read() as session:
        user = find_user(session, "alice")
        assert user is not None and user.password_hash.startswith("$argon2")
    db.dispose()


def test_serve_says_how_to_create_the_admin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    started: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.update(kwargs, app=app))
    app = typer.Typer()
    app.command()(serve.serve_command)
    result = CliRunner().invoke(
        app, ["--data-dir", str(tmp_path / "d"), "--port", "8123", "--classifier", "fake-classifier"]
    )
    assert result.exit_code == 0, result.output
    assert "januscxr users add admin --role admin" in result.output
    assert started["port"] == 8123 and started["host"] == "127.0.0.1"
