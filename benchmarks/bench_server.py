"""The reading room under load: N concurrent readers on loopback, and a 10,000-study worklist.

Run:  python benchmarks/bench_server.py [--readers 20] [--cycles 15] [--studies 10000]

Seeds a fresh SQLite (WAL) database with ``--studies`` studies (each reader's own cases carry
an AI result and a drafted report), starts ``januscxr serve``'s app under uvicorn in a separate
process on 127.0.0.1, logs in N readers and has each run ``--cycles`` times: worklist (first
50), open a study, save the draft, sign it, pausing ``--think-ms`` on average before each
request (0: back to back, a saturation test rather than a reading room). Prints p50/p95/max
latency per request kind and overall, the error count, then times the worklist page with all studies rendered (HTML,
``limit=10000``), the default page (200 rows) and the JSON worklist. Target: p95 < 100 ms with
20 readers and zero errors; the 10,000-study worklist renders in < 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import platform
import random
import socket
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from januscxr.labels import Finding
from januscxr.server.security import hash_password
from januscxr.storage.database import open_database
from januscxr.storage.reports import ensure_report
from januscxr.storage.studies import StudyAttributes, add_image, add_study, record_ai_result
from januscxr.storage.tables import Priority, Study
from januscxr.storage.users import add_user
from januscxr.types import DraftReport, FindingResult, Prediction

PASSWORD = "benchmark password"
DRAFT = DraftReport(
    findings="There is a right pneumothorax. No focal airspace disease.",
    impression="1. Right pneumothorax.",
    reporter="findings-composer",
)


def seed(url: str, *, readers: int, cycles: int, studies: int) -> dict[int, list[int]]:
    """Users reader01.. and studies; returns each reader's own study ids."""
    db = open_database(url)
    password_hash = hash_password(PASSWORD)
    own: dict[int, list[int]] = {}
    now = datetime.now(UTC)
    with db.write() as session:
        for r in range(readers):
            add_user(session, f"reader{r:02d}", password_hash, "radiologist")
        for r in range(readers):
            own[r] = []
            for c in range(cycles):
                study, _ = add_study(session, StudyAttributes(study_instance_uid=f"2.25.{r + 1}.{c}"))
                image = add_image(session, study, sop_instance_uid=f"2.25.{r + 1}.{c}.1", file_path="images/none.dcm")
                probability = 0.9 if (r + c) % 3 == 0 else 0.2
                findings = {Finding.PNEUMOTHORAX: FindingResult(Finding.PNEUMOTHORAX, probability, 0.5)}
                result = record_ai_result(session, image, Prediction(findings, "fake-classifier", "0"), DRAFT)
                ensure_report(session, study, result)
                own[r].append(study.id)
        rest = studies  # the readers sign their own: this many stay on the worklist
        session.execute(
            Study.__table__.insert(),
            [
                {
                    "study_instance_uid": f"2.25.0.{i}",
                    "received_at": now - timedelta(minutes=i % 600),
                    "ai_status": "done",
                    "priority": [Priority.CRITICAL, Priority.FLAGGED, Priority.ROUTINE][i % 3].value,
                    "top_finding": "Pneumothorax" if i % 3 == 0 else None,
                    "flagged_findings": "|Pneumothorax|" if i % 3 == 0 else "",
                    "report_status": "draft",
                }
                for i in range(rest)
            ],
        )
    db.dispose()
    return own


def serve(data_dir: str, url: str, port: int) -> None:
    import logging

    import uvicorn

    from januscxr.server import Settings, create_app

    logging.disable(logging.INFO)
    settings = Settings(
        data_dir=Path(data_dir), database_url=url, classifier="fake-classifier", login_max_failures=1000
    )
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def reader(
    client: httpx.AsyncClient, number: int, studies: list[int], timings: dict[str, list[float]], think_ms: float
) -> int:
    errors = 0
    pace = random.Random(number)
    login = await client.post("/api/session", json={"username": f"reader{number:02d}", "password": PASSWORD})
    headers = {"X-CSRF-Token": login.json()["csrf_token"]}

    async def timed(kind: str, method: str, path: str, **kwargs: object) -> httpx.Response | None:
        nonlocal errors
        if think_ms:
            await asyncio.sleep(pace.uniform(0.4, 1.6) * think_ms / 1000)
        start = time.perf_counter()
        try:
            response = await client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError:
            errors += 1
            return None
        timings[kind].append((time.perf_counter() - start) * 1e3)
        if response.status_code >= 400:
            errors += 1
        return response

    for study_id in studies:
        await timed("worklist", "GET", "/api/worklist?limit=50")
        opened = await timed("open_study", "GET", f"/api/studies/{study_id}")
        revision = opened.json()["report"]["revision"] if opened is not None and opened.status_code == 200 else 1
        body = {"revision": revision, "findings": f"Edited by reader {number}.", "impression": "Right pneumothorax."}
        await timed("save_draft", "PUT", f"/api/studies/{study_id}/report", json=body)
        await timed("sign", "POST", f"/api/studies/{study_id}/report/sign", json=body | {"revision": revision + 1})
    return errors


async def load(base: str, own: dict[int, list[int]], think_ms: float) -> tuple[dict[str, list[float]], int, float]:
    timings: dict[str, list[float]] = {k: [] for k in ("worklist", "open_study", "save_draft", "sign")}
    clients = [httpx.AsyncClient(base_url=base, timeout=30) for _ in own]
    start = time.perf_counter()
    errors = await asyncio.gather(*(reader(c, r, own[r], timings, think_ms) for c, r in zip(clients, own, strict=True)))
    elapsed = time.perf_counter() - start
    for client in clients:
        await client.aclose()
    return timings, sum(errors), elapsed


def worklist_render(base: str, repeats: int) -> dict[str, list[float]]:
    """Wall-clock ms of the worklist page with every study, the default page and the JSON list."""
    out: dict[str, list[float]] = {"html_all": [], "html_default": [], "json_all": []}
    with httpx.Client(base_url=base, timeout=60) as client:
        client.post("/api/session", json={"username": "reader00", "password": PASSWORD})
        paths = {
            "html_all": "/worklist?limit=10000",
            "html_default": "/worklist",
            "json_all": "/api/worklist?limit=10000",
        }
        for _ in range(repeats):
            for kind, path in paths.items():
                start = time.perf_counter()
                response = client.get(path, headers={"Accept": "text/html"})
                out[kind].append((time.perf_counter() - start) * 1e3)
                response.raise_for_status()
        rows = client.get("/worklist?limit=10000").text.count("data-study-id")
        out["rows"] = [float(rows)]
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=15, help="Studies each reader opens, edits and signs.")
    parser.add_argument("--studies", type=int, default=10_000, help="Unsigned studies besides the readers' own.")
    parser.add_argument("--repeats", type=int, default=10, help="Timings of the 10,000-study worklist.")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=500.0,
        help="Mean pause of a reader before each request (uniform 0.4-1.6x); 0 = back to back.",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="januscxr-bench-") as tmp:
        url = f"sqlite:///{tmp}/januscxr.db"
        start = time.perf_counter()
        own = seed(url, readers=args.readers, cycles=args.cycles, studies=args.studies)
        print(f"seeded {args.studies} studies, {args.readers} readers in {time.perf_counter() - start:.1f} s")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = multiprocessing.get_context("spawn").Process(target=serve, args=(tmp, url, port), daemon=True)
        server.start()
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base)
        timings, errors, elapsed = asyncio.run(load(base, own, args.think_ms))
        render = worklist_render(base, args.repeats)
        server.terminate()
        server.join(10)
    report(args, timings, errors, elapsed, render)


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/login", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("server did not start")


def report(
    args: argparse.Namespace,
    timings: dict[str, list[float]],
    errors: int,
    elapsed: float,
    render: dict[str, list[float]],
) -> None:
    every = [t for values in timings.values() for t in values]
    print(f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {platform.processor() or platform.machine()}")
    print(
        f"{args.readers} readers x {args.cycles} cycles, think time {args.think_ms:.0f} ms: "
        f"{len(every)} requests in {elapsed:.1f} s ({len(every) / elapsed:.0f}/s), {errors} errors"
    )
    print(f"{'request':<12} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for kind, values in [*timings.items(), ("all", every)]:
        print(
            f"{kind:<12} {len(values):>5} {statistics.median(values):>8.1f} "
            f"{percentile(values, 95):>8.1f} {max(values):>8.1f}"
        )
    print(f"\nworklist of {int(render['rows'][0])} studies, {args.repeats} repeats (median / max ms):")
    for kind in ("html_all", "html_default", "json_all"):
        print(f"  {kind:<13} {statistics.median(render[kind]):7.1f} / {max(render[kind]):7.1f}")


if __name__ == "__main__":
    main()
