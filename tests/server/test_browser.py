"""The reading room in a real Chromium (Debian's, via npm playwright-core) on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from januscxr.server import create_app
from tests.server.browser_support import ARTIFACTS, ingest_and_read, require_browser, run_script, serving
from tests.server.conftest import PASSWORD, add_users, dicom_bytes, make_settings

SCRIPT = Path(__file__).parent / "browser" / "reading_room.mjs"

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    app = create_app(make_settings(tmp_path))
    add_users(app.state.room)
    sources = []
    for n in range(3):  # three studies: the script reads one, then "sign and next" walks to the third
        source = tmp_path / f"chest{n}.dcm"
        source.write_bytes(dicom_bytes())
        sources.append(source)
    ingest_and_read(app.state.room, *sources)
    with serving(app) as url:
        yield url


def test_read_and_sign_in_chromium(live_server: str) -> None:
    require_browser()
    run_script(SCRIPT, live_server, str(ARTIFACTS), "rad", PASSWORD)
    assert (ARTIFACTS / "06-addendum.png").is_file()
    assert (ARTIFACTS / "09-sign-and-next.png").is_file()
