"""Issue 10, item 7: junk in any route's path or query parameters is a 4xx, never a 500.

Walks every route of the app and, as an admin, a radiologist, a resident and anonymously,
puts junk into each path parameter and each query parameter in turn.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.server.conftest import PASSWORD
from tests.server.seeding import seed_studies

JUNK = [
    "0",
    "-1",
    "1",
    str(2**31),
    str(2**63),
    str(2**64),
    "99999999999999999999999999",
    "1.5",
    "abc",
    "%00",
    "%C3%A9%F0%9F%92%A9",
    "x" * 3000,
    "9" * 400,
    "..%2F..%2Fetc",
]
QUERY_JUNK = ["", "-1", str(2**64), "bogus", "%00", "%C3%A9", "x" * 3000, "2024-13-45", "Pneumothorax"]
LOG_OUT = {("DELETE", "/api/session"), ("POST", "/logout")}


def routes(app: FastAPI) -> Iterator[tuple[str, str, APIRoute]]:
    """(method, path template, route) of every route, static files left out."""

    def walk(items: list[Any], prefix: str) -> Iterator[tuple[str, str, APIRoute]]:
        for route in items:
            included = getattr(route, "original_router", None)
            if included is not None:
                yield from walk(included.routes, prefix + getattr(route.include_context, "prefix", ""))
            elif isinstance(route, APIRoute):
                for method in sorted(route.methods - {"HEAD"}):
                    yield method, prefix + route.path, route

    yield from walk(app.routes, "")


def urls(path: str, route: APIRoute) -> Iterator[str]:
    """The path with junk in each path parameter, then with 1s and junk in each query parameter."""
    plain = re.sub(r"\{[^}]+\}", "1", path)
    for name in re.findall(r"\{[^}]+\}", path):
        for junk in JUNK:
            yield re.sub(r"\{[^}]+\}", "1", path.replace(name, junk))
    yield plain
    for param in route.dependant.query_params:
        for junk in QUERY_JUNK:
            yield f"{plain}?{param.alias}={junk}"


def client_for(app: FastAPI, username: str | None) -> tuple[TestClient, dict[str, str]]:
    client = TestClient(app, raise_server_exceptions=False)
    if username is None:
        return client, {}
    response = client.post("/api/session", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200
    return client, {"X-CSRF-Token": response.json()["csrf_token"]}


def test_no_route_answers_junk_with_a_500(app: FastAPI, room) -> None:
    seed_studies(room, 2)
    all_routes = list(routes(app))
    assert len(all_routes) > 25
    failures, sent = [], 0
    for username in ("admin", "rad", "res", None):
        client, headers = client_for(app, username)
        for method, path, route in sorted(all_routes, key=lambda r: (r[0], r[1]) in LOG_OUT):
            for url in urls(path, route) if (method, path) not in LOG_OUT else [path]:
                accept = "application/json" if url.startswith("/api/") else "text/html"
                response = client.request(method, url, headers={**headers, "Accept": accept}, json={})
                sent += 1
                if response.status_code >= 500:
                    failures.append((username, method, url[:120], response.status_code, response.text[:200]))
    assert sent > 1000
    assert failures == []
