"""Issue 11, item 2: a failed or refused AI read is visible, in plain words, and never "routine"."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image as PILImage

from januscxr import errors
from januscxr.errors import ReadTimeoutError
from januscxr.labels import Finding
from januscxr.server.deps import ReadingRoom
from januscxr.server.failures import INTERNAL, ai_status_for, describe_failure, describe_stored
from januscxr.storage import studies
from januscxr.storage.tables import AiStatus
from tests.server.conftest import dicom_bytes, png_bytes, upload_and_read
from tests.storage.conftest import DRAFT, prediction

PATH = "/srv/januscxr-data/images/3f2a9c.png"
CASES = [
    (errors.ImageReadError(f"{PATH}: truncated or corrupt image file (image file is truncated)"), AiStatus.FAILED,
     "The image could not be read: the file is truncated."),
    (errors.NotChestRadiographError(
        f"{PATH}: not a frontal chest radiograph: looks like random noise (chest probability 0.03 < 0.50); "
        "expected a frontal (PA or AP) chest radiograph"), AiStatus.REFUSED,
     "Not a chest radiograph: looks like random noise."),
    (errors.LateralViewError("image 7 is a lateral view; shown, but the classifier reads frontal views only"),
     AiStatus.REFUSED, "Lateral view: the AI reads frontal views only."),
    (ReadTimeoutError("x.png: reading took longer than 60 s", timeout_s=60.0), AiStatus.FAILED,
     "Reading the image took longer than 60 s."),
    (errors.ImageTooSmallError(f"{PATH}: image is 40x40 px; expected at least 64 px a side"), AiStatus.REFUSED,
     "Image too small: the AI needs at least 64 pixels a side."),
    (errors.ImageTooLargeError(f"{PATH}: image is 9x9 px"), AiStatus.FAILED,
     "The image is too large to read: it has more pixels than this server accepts."),
    (errors.ImageReadError(f"{PATH}: not an image; expected DICOM, PNG or JPEG"), AiStatus.FAILED,
     "Not an image: expected DICOM, PNG or JPEG."),
    (errors.WrongModalityError(f"{PATH}: Modality is CT; expected a radiograph (CR or DX)"), AiStatus.REFUSED,
     "Not a chest radiograph: the DICOM header names another modality (the AI reads CR and DX)."),
    (errors.WeightsNotFoundError("/opt/models/cxrnet.safetensors missing"), AiStatus.FAILED,
     "AI failed: the model could not be loaded; the administrator can see why in the server log."),
    (RuntimeError("CUDA error: device-side assert at /build/torch/aten.cu:88"), AiStatus.FAILED, INTERNAL),
]  # fmt: skip


@pytest.mark.parametrize(("error", "status", "words"), CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_each_failure_is_told_in_plain_words(error: Exception, status: AiStatus, words: str) -> None:
    assert describe_failure(error) == words
    assert ai_status_for(error) is status
    assert "/" not in words and "Error" not in words and "0.03" not in words


def test_rows_stored_before_the_mapping_are_shown_in_the_same_words() -> None:
    legacy = f"ImageReadError: {PATH}: truncated or corrupt image file (broken data stream)"
    assert describe_stored(legacy) == "The image could not be read: the file is truncated."
    assert describe_stored("SomeUnknownError: /etc/passwd") == INTERNAL
    assert describe_stored(None) is None


def _noise_png() -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(np.random.default_rng(3).integers(0, 256, (256, 256), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _tiny_png() -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(np.full((40, 40), 128, dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.real_gate
def test_a_failed_read_never_shows_as_routine(login, room: ReadingRoom) -> None:
    rad = login("rad")
    upload_and_read(
        rad,
        room,
        ("chest.dcm", dicom_bytes(StudyInstanceUID="1.2.840.99.10")),
        ("noise.png", _noise_png()),
        ("truncated.png", png_bytes(size=256)[:600]),
        ("tiny.png", _tiny_png()),
        ("lateral.dcm", dicom_bytes(StudyInstanceUID="1.2.840.99.11", ViewPosition="LL")),
    )
    items = {item["study_description"] or item["accession_number"] or "chest": item for item in _worklist(rad)}
    by_name = {name: (i["priority"], i["ai_status"], i["ai_error"]) for name, i in items.items()}
    assert by_name["noise.png"] == ("refused", "refused", "Not a chest radiograph: looks like random noise.")
    assert by_name["truncated.png"] == ("failed", "failed", "The image could not be read: the file is truncated.")
    assert by_name["tiny.png"][:2] == ("refused", "refused") and "64 pixels" in by_name["tiny.png"][2]
    unread = [i for i in items.values() if i["ai_status"] in ("failed", "refused")]
    assert len(unread) == 4 and all(i["priority"] != "routine" for i in unread)
    lateral = next(i for i in unread if i["ai_error"].startswith("Lateral view"))
    assert lateral["ai_error"] == "Lateral view: the AI reads frontal views only."
    page = rad.client.get("/worklist").text
    assert page.count('<span class="badge refused">AI refused</span>') == 3
    assert page.count('<span class="badge failed">AI failed</span>') == 1
    assert "Error" not in page.split("<tbody>")[1] and str(room.data_dir) not in page
    study = rad.client.get(f"/studies/{items['noise.png']['study_id']}").text
    assert "AI refused" in study and "Not a chest radiograph: looks like random noise." in study
    assert "routine" not in study


def test_unread_studies_sort_after_critical_and_before_flagged(login, room: ReadingRoom) -> None:
    reads = {"flagged": {Finding.CARDIOMEGALY: 0.9}, "critical": {Finding.PNEUMOTHORAX: 0.9}}
    reads |= {"routine": {Finding.CARDIOMEGALY: 0.1}, "failed": {}, "refused": {}}
    expected = {}
    with room.db.write() as session:
        for n, (name, probabilities) in enumerate(reads.items()):
            uid = f"1.2.3.{n}"
            study, _ = studies.add_study(session, studies.StudyAttributes(study_instance_uid=uid))
            image = studies.add_image(session, study, sop_instance_uid=f"{uid}.1", file_path="x")
            if probabilities:
                urgent = 0.75 if name == "critical" else None  # only the critical study is urgent
                studies.record_ai_result(session, image, prediction(probabilities, urgent_threshold=urgent), DRAFT)
            else:
                status = AiStatus(name)
                studies.record_ai_failure(session, image, "The image could not be read.", status=status)
            expected[study.id] = name
    order = [(expected[i["study_id"]], i["priority"]) for i in _worklist(login("rad"))]
    assert order == [(p, p) for p in ("critical", "failed", "refused", "flagged", "routine")]


def test_a_refused_lateral_beside_a_read_frontal_leaves_the_study_read(login, room: ReadingRoom) -> None:
    rad = login("rad")
    uid = "1.2.840.99.20"
    outcomes = upload_and_read(
        rad,
        room,
        ("pa.dcm", dicom_bytes(StudyInstanceUID=uid)),
        ("lat.dcm", dicom_bytes(StudyInstanceUID=uid, ViewPosition="LL")),
    )
    study = rad.client.get(f"/api/studies/{outcomes[0]['study_id']}").json()
    assert study["ai_status"] == "done" and len(study["ai_results"]) == 1
    assert [i["error"] for i in study["images"]] == [None, "Lateral view: the AI reads frontal views only."]
    (item,) = _worklist(rad)
    assert item["priority"] == "critical" and item["ai_error"] is None


@pytest.mark.real_gate
def test_the_upload_page_counts_and_names_what_was_not_stored_or_not_read(login, room: ReadingRoom) -> None:
    rad = login("rad")
    files = [("files", ("notes.txt", b"not an image")), ("files", ("noise.png", _noise_png()))]
    files.append(("files", ("chest.png", png_bytes())))
    page = rad.write("POST", "/upload", files=files).text  # type: ignore[attr-defined]
    room.pool.wait_idle()
    assert "3 files:" in page and "2 stored" in page and "1 not stored" in page
    assert 'Not stored: <span class="name">notes.txt</span>' in page and "upload.js" in page
    ids = re.findall(r'data-study-id="(\d+)"', page)
    query = "&".join(f"study_id={i}" for i in ids)
    reads = rad.client.get(f"/api/ai-reads?{query}").json()
    assert [(r["ai_status"], r["ai_error"]) for r in reads] == [
        ("refused", "Not a chest radiograph: looks like random noise."),
        ("done", None),
    ]


def _worklist(reader) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    response = reader.client.get("/api/worklist")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]
