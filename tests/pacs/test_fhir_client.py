"""DiagnosticReport bundles to a FHIR endpoint on loopback that validates with fhir.resources and stores by identifier."""

from __future__ import annotations

import base64
import time

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle

from januscxr.errors import ConfigurationError, DeliveryError
from januscxr.interop.fhir_report import report_bundle
from januscxr.interop.order import OutgoingReport
from januscxr.pacs.fhir_client import FhirEndpoint, send_transaction
from tests.interop.outgoing import ALGORITHM, ORDER, PATIENT, RESULTS, amended, draft, signed
from tests.pacs.conftest import free_port
from tests.pacs.fhir_server import fhir_server

SYSTEM = "https://hospital.example/fhir/januscxr-report"


def bundle(report: OutgoingReport) -> Bundle:
    return report_bundle(report, PATIENT, ORDER, identifier_system=SYSTEM, results=RESULTS, algorithm=ALGORITHM)


def test_draft_then_final_then_amended_update_one_report() -> None:
    with fhir_server() as store:
        endpoint = FhirEndpoint(store.url, timeout_s=5)
        first = send_transaction(bundle(draft()), endpoint)
        assert [o.status for o in first] == ["201 Created"] * 4
        assert store.one("DiagnosticReport")["status"] == "preliminary"
        second = send_transaction(bundle(signed()), endpoint)
        third = send_transaction(bundle(amended()), endpoint)
    assert [o.status for o in second] == [o.status for o in third] == ["200 OK"] * 4
    report = store.one("DiagnosticReport")  # updated in place, never duplicated
    assert report["status"] == "amended" and report["meta"]["versionId"] == "3"
    assert third[-1].location == f"DiagnosticReport/{report['id']}/_history/3"
    assert len(store.of_type("Observation")) == 3
    observation_ids = {f"Observation/{o['id']}" for o in store.of_type("Observation")}
    assert {r["reference"] for r in report["result"]} == observation_ids, "urn:uuid references resolved"
    text = base64.b64decode(report["presentedForm"][0]["data"]).decode("utf-8")
    assert "Correction: the pneumothorax is LEFT | not right." in text and "Ødegård" not in text
    assert report["resultsInterpreter"][0]["display"] == "Åse Ødegård"


@pytest.mark.parametrize(
    ("endpoint_auth", "required"),
    [
        ({"bearer_token": "s3cret"}, "Bearer s3cret"),
        ({"basic_auth": ("januscxr", "pw")}, "Basic " + base64.b64encode(b"januscxr:pw").decode()),
    ],
)
def test_credentials_are_sent(endpoint_auth: dict[str, object], required: str) -> None:
    with fhir_server(authorization=required) as store:
        send_transaction(bundle(signed()), FhirEndpoint(store.url, **endpoint_auth))  # type: ignore[arg-type]
        assert store.one("DiagnosticReport")["status"] == "final"
        with pytest.raises(DeliveryError, match="HTTP 401 error security missing or wrong credentials") as raised:
            send_transaction(bundle(signed()), FhirEndpoint(store.url))
    assert not raised.value.retryable
    assert "s3cret" not in repr(FhirEndpoint(store.url, bearer_token="s3cret"))


def test_a_4xx_is_final_with_the_operation_outcome_on_one_line() -> None:
    with fhir_server("400") as store, pytest.raises(DeliveryError) as raised:
        send_transaction(bundle(signed()), FhirEndpoint(store.url))
    assert not raised.value.retryable
    assert str(raised.value) == (
        f"FHIR {store.url}: HTTP 400 error invalid Observation.code: unknown code system; "
        "expected 200 with a transaction-response"
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("500", "HTTP 500 error exception database is down"), ("garbage", "expected a transaction-response Bundle")],
)
def test_server_errors_and_nonsense_are_retryable(answer: str, expected: str) -> None:
    with fhir_server(answer) as store, pytest.raises(DeliveryError, match=expected) as raised:
        send_transaction(bundle(signed()), FhirEndpoint(store.url))
    assert raised.value.retryable
    assert not store.resources


def test_a_slow_server_times_out_retryably_and_the_retry_updates_instead_of_duplicating() -> None:
    started = time.monotonic()
    with fhir_server("slow") as store:
        with pytest.raises(DeliveryError, match=r"no answer within 0\.2 s") as raised:
            send_transaction(bundle(signed()), FhirEndpoint(store.url, timeout_s=0.2))
        assert raised.value.retryable and time.monotonic() - started < 0.5
        deadline = time.monotonic() + 5
        while not store.of_type("DiagnosticReport") and time.monotonic() < deadline:  # it stored it all the same
            time.sleep(0.05)
        store.answer = "ok"
        send_transaction(bundle(signed()), FhirEndpoint(store.url, timeout_s=5))
        assert store.one("DiagnosticReport")["meta"]["versionId"] == "2"
        assert len(store.of_type("Observation")) == 3


def test_connection_refused_is_retryable() -> None:
    with pytest.raises(DeliveryError, match="expected a FHIR server") as raised:
        send_transaction(bundle(signed()), FhirEndpoint(f"http://127.0.0.1:{free_port()}/fhir", timeout_s=2))
    assert raised.value.retryable


def test_too_many_requests_is_retryable_and_a_search_bundle_is_nonsense() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["Accept"] != "application/fhir+json":
            return httpx.Response(406)
        return httpx.Response(429, text="slow down\n please")

    with pytest.raises(DeliveryError, match="HTTP 429 slow down please") as raised:
        send_transaction(
            bundle(signed()), FhirEndpoint("https://ehr.example/fhir"), transport=httpx.MockTransport(answer)
        )
    assert raised.value.retryable
    searchset = httpx.MockTransport(lambda _: httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset"}))
    with pytest.raises(DeliveryError, match="type 'searchset'; expected a transaction-response"):
        send_transaction(bundle(signed()), FhirEndpoint("https://ehr.example/fhir"), transport=searchset)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"base_url": "ehr.example/fhir"}, "expected an http:// or https:// URL"),
        ({"base_url": "https://e/fhir", "bearer_token": "t", "basic_auth": ("u", "p")}, "expected one"),
    ],
)
def test_endpoint_settings_are_checked(kwargs: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected):
        FhirEndpoint(**kwargs)  # type: ignore[arg-type]
