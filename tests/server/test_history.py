"""The history page: each version beside the text before it, changed words marked, report text escaped."""

from __future__ import annotations

import re

from tests.server.seeding import seed_studies


def test_history_is_side_by_side_with_changed_words_marked_and_escaped(login, room) -> None:
    (study_id,) = seed_studies(room, 1)
    rad = login("rad")
    report = rad.client.get(f"/api/studies/{study_id}").json()["report"]
    url = f"/api/studies/{study_id}/report"
    first = {"revision": report["revision"], "findings": "Small left effusion.", "impression": "Effusion."}
    saved = rad.write("PUT", url, json=first).json()  # type: ignore[attr-defined]
    second = {"revision": saved["revision"], "findings": "Small right effusion <b>x</b>.", "impression": "Effusion."}
    assert rad.write("POST", f"{url}/sign", json=second).status_code == 200  # type: ignore[attr-defined]

    page = rad.client.get(f"/studies/{study_id}/history").text
    signed = page[page.index('id="v3"') :]
    assert "<del>left</del>" in signed and "<ins>right</ins>" in signed
    assert "<ins>&lt;b&gt;x&lt;/b&gt;</ins>" in signed and "<b>x</b>" not in page
    assert re.search(r'class="section unchanged"><h3>Impression', signed)
    assert "Dr rad" in signed and "UTC" in signed
    assert page.index('id="v3"') < page.index('id="v2"') < page.index('id="v1"')  # newest first
