"""A FHIR endpoint for the tests: validates each transaction with fhir.resources and stores resources by identifier.

Conditional updates (``PUT Type?identifier=system|value``) create a resource the first time and
update it (same id, next version) after; ``urn:uuid`` references between entries are rewritten to
the ids assigned, as a FHIR server does.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

Key = tuple[str, str, str]  # resource type, identifier system, identifier value


@dataclass
class FhirStore:
    """Resources by identifier, and how the endpoint answers: "ok", "500", "400", "slow", "garbage"."""

    url: str = ""
    answer: str = "ok"
    authorization: str | None = None  # the Authorization header required, if any
    resources: dict[Key, dict[str, Any]] = field(default_factory=dict)
    requests: int = 0

    def one(self, resource_type: str) -> dict[str, Any]:
        found = [r for (kind, _, _), r in self.resources.items() if kind == resource_type]
        assert len(found) == 1, f"{len(found)} {resource_type} resources stored"
        return found[0]

    def of_type(self, resource_type: str) -> list[dict[str, Any]]:
        return [r for (kind, _, _), r in self.resources.items() if kind == resource_type]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_POST(self) -> None:
        store = self.server.store
        store.requests += 1
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if store.authorization is not None and self.headers.get("Authorization") != store.authorization:
            return self._outcome(401, "security", "missing or wrong credentials")
        if store.answer == "slow":  # answers after the sender gave up, yet stores the resources
            time.sleep(0.5)
        if store.answer == "500":
            return self._outcome(500, "exception", "database is down")
        if store.answer == "garbage":
            return self._send(200, b"<html>welcome</html>", "text/html")
        if self.headers.get("Content-Type") != "application/fhir+json":
            return self._outcome(415, "not-supported", f"content type {self.headers.get('Content-Type')}")
        try:
            bundle = Bundle.model_validate_json(body)
        except ValidationError as error:
            return self._outcome(400, "invalid", str(error).replace("\n", " "))
        if store.answer == "400":
            return self._outcome(400, "invalid", "Observation.code:\n unknown   code system")
        self._send(200, json.dumps(_transaction(store, bundle)).encode(), "application/fhir+json")

    def _outcome(self, status: int, code: str, text: str) -> None:
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}],
        }
        self._send(status, json.dumps(outcome).encode(), "application/fhir+json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # the sender timed out
            self.wfile.write(body)


def _transaction(store: FhirStore, bundle: Bundle) -> dict[str, Any]:
    assert bundle.type == "transaction"
    assigned: dict[str, str] = {}
    pending = []
    for entry in bundle.entry or []:
        assert entry.request is not None and entry.request.method == "PUT"
        url = urlsplit(entry.request.url)
        system, value = parse_qs(url.query)["identifier"][0].split("|", 1)
        resource = json.loads(entry.resource.model_dump_json())
        assert resource["resourceType"] == url.path
        assert {"system": system, "value": value} in [
            {"system": i.get("system"), "value": i.get("value")} for i in resource["identifier"]
        ]
        key = (url.path, system, value)
        old = store.resources.get(key)
        resource["id"] = old["id"] if old else f"{url.path.lower()}-{len(store.resources) + len(pending) + 1}"
        resource["meta"] = {"versionId": str(int(old["meta"]["versionId"]) + 1 if old else 1)}
        assigned[entry.fullUrl] = f"{url.path}/{resource['id']}"
        pending.append((key, resource, old is None))
    responses = []
    for key, resource, created in pending:
        store.resources[key] = _rewrite(resource, assigned)
        location = f"{key[0]}/{resource['id']}/_history/{resource['meta']['versionId']}"
        responses.append({"response": {"status": "201 Created" if created else "200 OK", "location": location}})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": responses}


def _rewrite(value: Any, assigned: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: (assigned.get(v, v) if k == "reference" else _rewrite(v, assigned)) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, assigned) for v in value]
    return value


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    store: FhirStore


@contextmanager
def fhir_server(answer: str = "ok", authorization: str | None = None) -> Iterator[FhirStore]:
    """The endpoint on a free loopback port, for the duration of the block."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.store = FhirStore(
        url=f"http://127.0.0.1:{server.server_address[1]}/fhir", answer=answer, authorization=authorization
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.store
    finally:
        server.shutdown()
        server.server_close()
