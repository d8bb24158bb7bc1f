"""``januscxr users``: create and list reading-room accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from januscxr.server.security import MIN_PASSWORD_LENGTH, hash_password
from januscxr.storage.roles import Role

app = typer.Typer(help="Reading-room accounts: radiologists, residents (co-signed) and admins.", no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option(help="The reading room's data folder (as given to `serve`).")]
DatabaseUrl = Annotated[str | None, typer.Option(help="SQLAlchemy URL, when not the data folder's SQLite file.")]


@app.command("add")
def add_command(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[Role, typer.Option(help="radiologist, resident or admin.")] = Role.RADIOLOGIST,
    display_name: Annotated[str | None, typer.Option(help="Name shown on reports.")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an account; asks for the password twice unless --password-stdin."""
    if password_stdin:
        password = typer.get_text_stream("stdin").readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise typer.BadParameter(f"password has {len(password)} characters; expected at least {MIN_PASSWORD_LENGTH}")
    from januscxr.server import load_settings
    from januscxr.storage.database import open_database
    from januscxr.storage.users import add_user

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    db = open_database(settings.resolved_database_url)
    with db.write() as session:
        add_user(session, username, hash_password(password), role, display_name=display_name)
    db.dispose()
    typer.echo(f"added {role.value} {username!r}")


@app.command("list")
def list_command(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List accounts and roles."""
    from januscxr.server import load_settings
    from januscxr.storage.database import open_database
    from januscxr.storage.users import list_users

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    db = open_database(settings.resolved_database_url)
    with db.read() as session:
        for user in list_users(session):
            typer.echo(
                f"{user.username}\t{user.role}\t{'active' if user.is_active else 'disabled'}\t{user.display_name}"
            )
    db.dispose()
