"""Every route refuses anonymous requests; CSRF, cookies, roles, login throttle, no PHI in logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from tests.server.conftest import PASSWORD, dicom_bytes, upload_and_read

# The only routes an anonymous user may reach: the login form and the JSON login.
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("POST", "/api/session")}


def all_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route, with path parameters set to 1; static files left out."""
    return sorted(set(_walk(app.routes, "")))


def _walk(routes: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
    for route in routes:
        if isinstance(route, Mount):
            continue  # /static: stylesheets and scripts, no data
        included = getattr(route, "original_router", None)  # FastAPI >= 0.16x wraps included routers
        if included is not None:
            yield from _walk(included.routes, prefix + getattr(route.include_context, "prefix", ""))
            continue
        assert isinstance(route, APIRoute | Route), route
        for method in route.methods or ():
            if method != "HEAD":
                yield method, prefix + re.sub(r"\{[^}]+\}", "1", route.path)


def test_every_route_refuses_anonymous_requests(app: FastAPI, anonymous: TestClient) -> None:
    routes = all_routes(app)
    assert len(routes) > 25
    checked = 0
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        for accept in ("application/json", "text/html"):
            response = anonymous.request(method, path, headers={"Accept": accept}, follow_redirects=False)
            if response.status_code == 303:
                assert response.headers["location"].startswith("/login"), (method, path)
            else:
                assert response.status_code == 401, (method, path, accept, response.status_code)
            checked += 1
    assert checked >= 2 * (len(routes) - len(PUBLIC))


def test_pages_redirect_to_login_and_api_says_401(anonymous: TestClient) -> None:
    page = anonymous.get("/worklist", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/worklist"
    assert anonymous.get("/api/worklist").status_code == 401
    assert anonymous.get("/api/openapi.json").status_code == 401
    assert anonymous.get("/docs").status_code == 404


def test_login_form_sets_a_strict_httponly_cookie(anonymous: TestClient) -> None:
    form = anonymous.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    data = {"username": "rad", "password": PASSWORD, "csrf_token": token.group(1), "next": "/worklist"}
    response = anonymous.post("/login", data=data, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/worklist"
    cookie = response.headers["set-cookie"].lower()
    assert "januscxr_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert anonymous.get("/worklist").status_code == 200


def test_login_form_needs_its_csrf_token(anonymous: TestClient) -> None:
    anonymous.get("/login")
    data = {"username": "rad", "password": PASSWORD, "csrf_token": "forged"}
    assert anonymous.post("/login", data=data, follow_redirects=False).status_code == 403


def test_writes_need_the_csrf_token(login, room) -> None:
    rad = login("rad")
    (outcome,) = upload_and_read(rad, room, ("a.dcm", dicom_bytes()))
    url = f"/api/studies/{outcome['study_id']}/report"
    body = {"revision": 1, "findings": "x", "impression": "y"}
    assert rad.client.put(url, json=body).status_code == 403
    assert rad.client.put(url, json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert rad.client.post("/logout", data={"csrf_token": "wrong"}, follow_redirects=False).status_code == 403
    assert rad.write("PUT", url, json=body).status_code == 200


def test_login_is_rate_limited(anonymous: TestClient) -> None:
    for _ in range(5):
        assert anonymous.post("/api/session", json={"username": "rad", "password": "wrong"}).status_code == 401
    response = anonymous.post("/api/session", json={"username": "rad", "password": PASSWORD})
    assert response.status_code == 429 and "try again" in response.json()["message"]


def test_roles(login, room) -> None:
    rad, admin = login("rad"), login("admin")
    (outcome,) = upload_and_read(rad, room, ("a.dcm", dicom_bytes()))
    sign = f"/api/studies/{outcome['study_id']}/report/sign"
    body = {"revision": 1, "findings": "x", "impression": "y"}
    assert admin.write("POST", sign, json=body).status_code == 403
    assert rad.client.get("/api/audit").status_code == 403
    assert rad.client.get("/admin", headers={"Accept": "text/html"}).status_code == 403
    assert admin.client.get("/api/audit").status_code == 200


def test_no_patient_identifiers_or_report_text_in_logs(login, room, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rad = login("rad")
    (outcome,) = upload_and_read(
        rad, room, ("Doe_Jane_MRN123.dcm", dicom_bytes(PatientName="Doe^Jane", PatientID="MRN123"))
    )
    url = f"/api/studies/{outcome['study_id']}/report"
    rad.write("PUT", url, json={"revision": 1, "findings": "SECRET-FINDINGS", "impression": "SECRET-IMPRESSION"})
    rad.write("POST", f"{url}/sign", json={"revision": 1, "findings": "SECRET-RACE", "impression": "z"})
    text = "\n".join(record.getMessage() for record in caplog.records)
    for secret in ("Doe", "MRN123", "SECRET"):
        assert secret not in text


def test_logout_ends_the_session_at_once(login) -> None:
    rad = login("rad")
    assert rad.client.get("/api/me").status_code == 200  # the session is now in the login cache
    token = rad.client.cookies["januscxr_session"]
    assert rad.write("DELETE", "/api/session").status_code == 204
    rad.client.cookies.set("januscxr_session", token)  # replay the old cookie
    assert rad.client.get("/api/me").status_code == 401
