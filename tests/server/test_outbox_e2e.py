"""End to end: storescu sends a study, januscxr reads it, a radiologist signs it in Chromium, and the
PACS (Orthanc), the RIS (MLLP) and the EHR (FHIR) hold what januscxr sent."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom.uid import Comprehensive3DSRStorage, EnhancedSRStorage, SecondaryCaptureImageStorage
from sqlalchemy import select

from januscxr.server import create_app
from januscxr.storage.tables import AiResult, JobState, OutboxItem
from tests.conftest import DATA
from tests.pacs.conftest import SCP_AE, dcmtk_tool, free_port
from tests.pacs.fhir_server import fhir_server
from tests.pacs.mllp_receiver import mllp_receiver
from tests.pacs.orthanc import run_orthanc
from tests.server.browser_support import ARTIFACTS, require_browser, run_script, serving
from tests.server.conftest import PASSWORD, add_users, make_settings

pytestmark = [pytest.mark.browser, pytest.mark.pacs]

FIXTURE = DATA / "fixtures" / "dicom" / "RG1_UNCR.dcm"
SCRIPT = Path(__file__).parent / "browser" / "sign_study.mjs"
FINDINGS = "Small right apical pneumothorax.\nNo pleural effusion."


def wait_for(condition: Callable[[], object], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.1)


def test_storescu_read_sign_in_chromium_and_the_pacs_ris_ehr_hold_the_results(tmp_path: Path) -> None:
    require_browser()
    if not FIXTURE.is_file():
        pytest.skip(f"fixture DICOM not found at {FIXTURE}")
    storescu = dcmtk_tool("storescu")
    with run_orthanc(tmp_path) as orthanc, mllp_receiver() as ris, fhir_server() as ehr:
        port = free_port()
        settings = make_settings(
            tmp_path,
            dicom_port=port,
            study_quiet_s=0.5,
            outbound_dicom=[f"{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}"],
            outbound_mllp_host="127.0.0.1",
            outbound_mllp_port=ris.port,
            outbound_fhir_url=ehr.url,
            outbound_backoff_base_s=0.2,
            outbound_backoff_cap_s=1.0,
            outbound_poll_s=0.1,
        )
        app = create_app(settings)
        room = app.state.room
        add_users(room)
        with serving(app) as url:  # the lifespan runs the listener, the workers and the sender
            sent = subprocess.run(
                [storescu, "-aet", "MODALITY", "-aec", SCP_AE, "127.0.0.1", str(port), str(FIXTURE)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert sent.returncode == 0, sent.stdout + sent.stderr

            def read() -> AiResult | None:
                with room.db.read() as session:
                    return session.scalar(select(AiResult))

            wait_for(read, "the AI read of the study")
            study_id = read().study_id  # type: ignore[union-attr]
            run_script(SCRIPT, url, str(study_id), "rad", PASSWORD, str(ARTIFACTS), FINDINGS)

            def delivered() -> list[OutboxItem] | None:
                with room.db.read() as session:
                    items = list(session.scalars(select(OutboxItem)))
                kinds = {i.kind for i in items}
                done = all(i.state == JobState.DONE.value for i in items)
                return items if done and {"ai_sr", "heatmap", "report_sr", "oru", "fhir"} <= kinds else None

            wait_for(delivered, "everything delivered")
            items = delivered() or []
        instances = orthanc.get("/instances?expand")
        stored = {i["MainDicomTags"]["SOPInstanceUID"] for i in instances}
        assert stored == {i.object_uid for i in items if i.kind in ("ai_sr", "heatmap", "report_sr")}
        sop_classes = [orthanc.get(f"/instances/{i['ID']}/simplified-tags")["SOPClassUID"] for i in instances]
        assert sop_classes.count(Comprehensive3DSRStorage) == 1
        assert sop_classes.count(EnhancedSRStorage) == 1 and SecondaryCaptureImageStorage in sop_classes
        report_uid = next(i.object_uid for i in items if i.kind == "report_sr")
        (report,) = [i for i in instances if i["MainDicomTags"]["SOPInstanceUID"] == report_uid]
        tags = orthanc.get(f"/instances/{report['ID']}/simplified-tags")
        assert tags["VerificationFlag"] == "VERIFIED" and tags["CompletionFlag"] == "COMPLETE"
        (oru,) = ris.messages
        assert str(oru.segment("OBR")[25]) == "F" and str(oru.segment("MSH")[9]).startswith("ORU^R01")
        assert "Small right apical pneumothorax." in str(oru.segment("OBX")[5])
        diagnostic = ehr.one("DiagnosticReport")
        assert diagnostic["status"] == "final" and diagnostic["resultsInterpreter"]
        assert diagnostic["identifier"][0]["value"] == "exam Number"  # the fixture's accession number
