"""Sending FHIR resources to the EHR: a transaction Bundle of conditional updates, over httpx.

The bundle (:func:`januscxr.interop.fhir_report.report_bundle`) is POSTed to the server's base
URL. Its entries are ``PUT Type?identifier=system|value``, so sending the same report twice, or
the amended one after the final one, updates the resources instead of adding new ones: a retry is
always safe.

Failures raise :class:`~januscxr.errors.DeliveryError`: retryable for a timeout, a connection
that fails, 408, 429, a 5xx or a success answer that is not a transaction-response Bundle;
not retryable for any other 4xx (the server refused the content or the credentials: sending it
again will not help), with the server's OperationOutcome on one line.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from januscxr.errors import ConfigurationError, DeliveryError

FHIR_JSON = "application/fhir+json"
RETRYABLE_STATUS = frozenset({408, 429})
MAX_DETAIL_CHARS = 300

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FhirEndpoint:
    """A FHIR server: base URL, optional bearer token or basic credentials, and a timeout."""

    base_url: str
    bearer_token: str | None = None
    basic_auth: tuple[str, str] | None = None  # (user, password)
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"FHIR base URL: {self.base_url!r}; expected an http:// or https:// URL")
        if self.bearer_token and self.basic_auth:
            raise ConfigurationError("FHIR endpoint: both a bearer token and basic credentials; expected one")

    def __repr__(self) -> str:  # never show the credentials
        return f"FhirEndpoint(base_url={self.base_url!r}, timeout_s={self.timeout_s})"


@dataclass(frozen=True)
class EntryOutcome:
    """One entry of the transaction-response: HTTP status ("201 Created", "200 OK") and location."""

    status: str
    location: str | None


def send_transaction(
    bundle: Bundle, endpoint: FhirEndpoint, *, transport: httpx.BaseTransport | None = None
) -> list[EntryOutcome]:
    """POST the transaction ``bundle`` to ``endpoint`` and return each entry's outcome, in order.

    Raises
    ------
    DeliveryError
        ``retryable`` for timeouts, connection failures, 408, 429, 5xx and nonsense answers;
        not retryable for other 4xx, with the server's OperationOutcome text.
    """
    destination = f"FHIR {endpoint.base_url}"
    headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
    if endpoint.bearer_token:
        headers["Authorization"] = f"Bearer {endpoint.bearer_token}"
    auth = httpx.BasicAuth(*endpoint.basic_auth) if endpoint.basic_auth else None
    try:
        with httpx.Client(timeout=endpoint.timeout_s, transport=transport, auth=auth) as client:
            response = client.post(endpoint.base_url, content=bundle.model_dump_json().encode("utf-8"), headers=headers)
    except httpx.TimeoutException as error:
        raise DeliveryError(
            f"{destination}: no answer within {endpoint.timeout_s:g} s; expected a transaction-response",
            retryable=True,
        ) from error
    except httpx.TransportError as error:
        raise DeliveryError(f"{destination}: {error}; expected a FHIR server", retryable=True) from error
    if not response.is_success:
        retryable = response.status_code in RETRYABLE_STATUS or response.status_code >= 500
        raise DeliveryError(
            f"{destination}: HTTP {response.status_code} {outcome_text(response)}; expected 200 with a transaction-response",
            retryable=retryable,
        )
    outcomes = _entry_outcomes(response, destination)
    log.info("%s stored %d resources (%s)", destination, len(outcomes), ", ".join(o.status for o in outcomes))
    return outcomes


def outcome_text(response: httpx.Response) -> str:
    """The OperationOutcome's issues on one line (severity, code, diagnostics), or the start of the body."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        issues = [_issue_text(issue) for issue in body.get("issue") or [] if isinstance(issue, dict)]
        text = "; ".join(issue for issue in issues if issue) or "OperationOutcome without issues"
    else:
        text = response.text or response.reason_phrase
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 3] + "..."


def _issue_text(issue: dict[str, Any]) -> str:
    details = issue.get("details")
    detail = issue.get("diagnostics") or (details.get("text") if isinstance(details, dict) else None) or ""
    return " ".join(str(part) for part in (issue.get("severity"), issue.get("code"), detail) if part)


def _entry_outcomes(response: httpx.Response, destination: str) -> list[EntryOutcome]:
    try:
        reply = Bundle.model_validate_json(response.content)
    except ValidationError as error:
        raise DeliveryError(
            f"{destination}: HTTP {response.status_code} with {outcome_text(response)!r}; "
            "expected a transaction-response Bundle",
            retryable=True,
        ) from error
    if reply.type != "transaction-response":
        raise DeliveryError(
            f"{destination}: a Bundle of type {reply.type!r}; expected a transaction-response", retryable=True
        )
    return [
        EntryOutcome(status=str(entry.response.status), location=entry.response.location)
        for entry in reply.entry or []
        if entry.response is not None
    ]
