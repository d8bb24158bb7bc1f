"""PACS ingest: C-STORE throughput into januscxr beside Orthanc, and the time from stored to draft ready.

Run:  python benchmarks/bench_pacs.py [--fixture ../shared/data/fixtures/dicom/RG1_UNCR.dcm]
          [--instances 200] [--repeats 3] [--studies 30] [--workers 1 2] [--skip-throughput] [--skip-draft]

Throughput: ``--instances`` copies of an uncompressed CR (the fixture with new Study, Series and
SOP Instance UIDs, one study each) are written to a temporary folder, then DCMTK's ``storescu``
sends them on one association to ``januscxr dicom listen`` and to Orthanc (``/usr/sbin/Orthanc``,
a temporary configuration on free ports, no plugins), each time into empty storage, alternating
which goes first, ``--repeats`` times. Both fsync before answering (Orthanc's SyncStorageArea is on
by default; januscxr fsyncs the staged and the stored file). Reported: instances/s and MB/s (10^6
bytes of DICOM files) of the whole ``storescu`` run, the median over repeats, and the ratio
januscxr / Orthanc. Target: januscxr >= 0.5x Orthanc's instances/s.

Store to draft: ``januscxr dicom listen`` and 1, then 2, ``januscxr worker`` processes (bundled
classifier, one torch thread each) on one data folder; ``--studies`` one-instance studies are sent
one at a time by ``storescu``, each after the previous draft was ready. Reported, p50 and p95:
the instance stored (its row's ``created_at``) to the draft ready (the study's ``ai_ready_at``), and
``storescu``'s exit (after the success status) to the draft seen by polling the database.
The study-completion wait (``study_quiet_s``) is ``--quiet-s``, 1 s by default.
Target: p95 <= 3 s for a one-instance study with a 1 s completion wait.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid
from sqlalchemy import select

from januscxr.storage.database import Database, open_database
from januscxr.storage.tables import Image, Study

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FIXTURE = ROOT.parent / "shared" / "data" / "fixtures" / "dicom" / "RG1_UNCR.dcm"
ORTHANC = "/usr/sbin/Orthanc"
CALLING_AE = "BENCH"
START_TIMEOUT_S = 60.0
DRAFT_TIMEOUT_S = 120.0
POLL_S = 0.02


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_instances(fixture: Path, folder: Path, count: int) -> list[Path]:
    """``count`` copies of ``fixture``, each a study of its own with new UIDs."""
    folder.mkdir(parents=True, exist_ok=True)
    dataset = pydicom.dcmread(fixture)
    paths = []
    for number in range(count):
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID = generate_uid(), generate_uid()
        dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        dataset.AccessionNumber = f"BENCH{number:05d}"
        path = folder / f"{number:05d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", **extra}


@functools.cache
def dcmtk(name: str) -> str:
    """DCMTK's ``name`` on PATH (pynetdicom installs Python tools of the same names)."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = shutil.which(name, path=folder)
        if candidate is not None:
            version = subprocess.run([candidate, "--version"], capture_output=True, text=True, check=False)
            if "dcmtk" in (version.stdout + version.stderr).lower():
                return candidate
    raise SystemExit(f"DCMTK's {name} not found: apt-get install -y dcmtk")


def _echo(port: int, called: str) -> bool:
    command = [dcmtk("echoscu"), "-aet", CALLING_AE, "-aec", called, "-to", "2", "127.0.0.1", str(port)]
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


@contextlib.contextmanager
def running(command: list[str], *, port: int, called: str, log: Path, env: dict[str, str]) -> Iterator[None]:
    """A server process until the block ends (SIGTERM, then SIGKILL), ready once it answers C-ECHO."""
    with log.open("ab") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _echo(port, called):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{command[0]} did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        yield
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def listener_command(data_dir: Path, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "januscxr.cli.app",
        "dicom",
        "listen",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]


def orthanc_config(folder: Path, port: int) -> Path:
    """A minimal Orthanc configuration: DICOM on ``port``, no HTTP, no plugins, storage in ``folder``."""
    config = {
        "Name": "bench",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "DicomAet": "ORTHANC",
        "DicomPort": port,
        "DicomCheckCalledAet": False,
        "HttpServerEnabled": False,
        "RemoteAccessAllowed": False,
        "StorageCompression": False,
        "Plugins": [],
    }
    path = folder / "orthanc.json"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    return path


def storescu(port: int, called: str, paths: list[Path]) -> float:
    """Send ``paths`` on one association; the wall time in seconds. Exits when storescu fails."""
    command = [dcmtk("storescu"), "-aet", CALLING_AE, "-aec", called, "127.0.0.1", str(port), *map(str, paths)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or "status" in done.stderr.lower():
        raise SystemExit(f"storescu to {called} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


def _count_files(folder: Path) -> int:
    return sum(1 for path in folder.rglob("*") if path.is_file())


def _stored_rows(data_dir: Path) -> int:
    db = open_database(f"sqlite:///{(data_dir / 'januscxr.db').resolve()}")
    try:
        with db.read() as session:
            return len(session.scalars(select(Image.id)).all())
    finally:
        db.dispose()


def throughput_run(target: str, paths: list[Path], work: Path) -> float:
    """One storescu run of ``paths`` into an empty ``target``; seconds. Checks everything was stored."""
    folder = work / target
    shutil.rmtree(folder, ignore_errors=True)
    port = free_port()
    if target == "januscxr":
        data_dir = folder / "data"
        server = running(
            listener_command(data_dir, port),
            port=port,
            called="JANUSCXR",
            log=work / "listener.log",
            env=_environment(),
        )
        with server:
            seconds = storescu(port, "JANUSCXR", paths)
        stored = _stored_rows(data_dir)
    else:
        config = orthanc_config(folder, port)
        with running([ORTHANC, str(config)], port=port, called="ORTHANC", log=work / "orthanc.log", env={**os.environ}):
            seconds = storescu(port, "ORTHANC", paths)
        stored = _count_files(folder / "storage")
    shutil.rmtree(folder, ignore_errors=True)
    if stored != len(paths):
        raise SystemExit(f"{target} stored {stored} of {len(paths)} instances")
    return seconds


@dataclass(frozen=True)
class Throughput:
    seconds: dict[str, list[float]]
    instances: int
    megabytes: float

    def rate(self, target: str) -> float:
        return self.instances / statistics.median(self.seconds[target])


def measure_throughput(paths: list[Path], work: Path, repeats: int) -> Throughput:
    seconds: dict[str, list[float]] = {"januscxr": [], "orthanc": []}
    for repeat in range(repeats):
        order = ["januscxr", "orthanc"] if repeat % 2 == 0 else ["orthanc", "januscxr"]
        for target in order:
            seconds[target].append(throughput_run(target, paths, work))
            print(f"  repeat {repeat + 1} {target:<9} {len(paths) / seconds[target][-1]:6.2f} instances/s", flush=True)
    return Throughput(seconds, len(paths), sum(path.stat().st_size for path in paths) / 1e6)


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _draft_ready(db: Database, sop_instance_uid: str) -> tuple[datetime, datetime] | None:
    """(instance stored, draft ready) for the study of ``sop_instance_uid``, once its draft is ready."""
    with db.read() as session:
        row = session.execute(
            select(Image.created_at, Study.ai_ready_at, Study.ai_status)
            .join(Study, Study.id == Image.study_id)
            .where(Image.sop_instance_uid == sop_instance_uid)
        ).first()
    if row is None or row.ai_ready_at is None:
        return None
    if row.ai_status != "done":
        raise SystemExit(f"the study of {sop_instance_uid} was not read: ai_status {row.ai_status}")
    return _as_utc(row.created_at), _as_utc(row.ai_ready_at)


def send_and_wait(db: Database, port: int, path: Path, uid: str) -> tuple[float, float]:
    """storescu one instance, then poll until its draft is ready; (stored -> ready, success -> seen) seconds."""
    storescu(port, "JANUSCXR", [path])
    success = time.perf_counter()
    deadline = success + DRAFT_TIMEOUT_S
    while (times := _draft_ready(db, uid)) is None:
        if time.perf_counter() > deadline:
            raise SystemExit(f"no draft {DRAFT_TIMEOUT_S:g} s after storing {path.name}")
        time.sleep(POLL_S)
    seen = time.perf_counter() - success
    stored, ready = times
    return (ready - stored).total_seconds(), seen


def measure_draft(paths: list[Path], work: Path, *, workers: int, quiet_s: float) -> tuple[list[float], list[float]]:
    """One study at a time (the first, a warm-up, is not counted) into ``januscxr dicom listen``
    with ``workers`` ``januscxr worker`` processes beside it."""
    data_dir = work / f"draft-{workers}" / "data"
    port = free_port()
    env = _environment(JANUSCXR_STUDY_QUIET_S=str(quiet_s), JANUSCXR_DICOM_PORT=str(port))
    server_command = listener_command(data_dir, port)
    worker_command = [sys.executable, "-m", "januscxr.cli.app", "worker", "--data-dir", str(data_dir)]
    log = work / f"draft-{workers}.log"
    stored_to_ready, success_to_seen = [], []
    with running(server_command, port=port, called="JANUSCXR", log=log, env=env), log.open("ab") as output:
        processes = [
            subprocess.Popen(worker_command, env=env, stdout=output, stderr=output, start_new_session=True)
            for _ in range(workers)
        ]
        db = open_database(f"sqlite:///{(data_dir / 'januscxr.db').resolve()}")
        try:
            for number, path in enumerate(paths):
                uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
                latency, seen = send_and_wait(db, port, path, uid)
                if number:  # the first loads the model and starts the decoder
                    stored_to_ready.append(latency)
                    success_to_seen.append(seen)
                time.sleep(0.2)
        finally:
            db.dispose()
            for process in processes:
                stop(process)
    shutil.rmtree(data_dir.parent, ignore_errors=True)
    return stored_to_ready, success_to_seen


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", type=Path, default=DEFAULT_FIXTURE, help="An uncompressed CR DICOM file.")
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--studies", type=int, default=30, help="One-instance studies per worker count.")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quiet-s", type=float, default=1.0, help="study_quiet_s, where this version has it.")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-draft", action="store_true")
    args = parser.parse_args()
    for tool in ("storescu", "echoscu"):
        dcmtk(tool)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPUs")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-pacs-") as temporary:
        work = Path(temporary)
        if not args.skip_throughput:
            report_throughput(args, work)
        if not args.skip_draft:
            report_draft(args, work)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def report_throughput(args: argparse.Namespace, work: Path) -> None:
    if not Path(ORTHANC).exists():
        raise SystemExit(f"{ORTHANC} not found: apt-get install -y orthanc")
    paths = make_instances(args.fixture, work / "instances", args.instances)
    rows, columns = (pydicom.dcmread(paths[0], stop_before_pixels=True).get(k) for k in ("Rows", "Columns"))
    print(f"\nC-STORE throughput: {len(paths)} instances of {columns} x {rows} ({args.fixture.name}), one association")
    result = measure_throughput(paths, work, args.repeats)
    shutil.rmtree(work / "instances", ignore_errors=True)
    print(f"\n| target | instances/s (median of {args.repeats}) | MB/s | runs (s) |")
    print("|---|---|---|---|")
    for target in ("januscxr", "orthanc"):
        rate = result.rate(target)
        runs = ", ".join(f"{s:.1f}" for s in result.seconds[target])
        print(f"| {target} | {rate:.2f} | {rate * result.megabytes / result.instances:.1f} | {runs} |")
    ratios = [j / o for j, o in zip(result.seconds["orthanc"], result.seconds["januscxr"], strict=True)]
    print(
        f"\njanuscxr / Orthanc instances/s: {result.rate('januscxr') / result.rate('orthanc'):.2f}x "
        f"(per repeat: {', '.join(f'{r:.2f}' for r in ratios)}; target >= 0.5x)"
    )


def report_draft(args: argparse.Namespace, work: Path) -> None:
    print(
        f"\nStore to draft: one-instance studies, {args.studies} per worker count (+1 warm-up), study_quiet_s={args.quiet_s:g}"
    )
    paths = make_instances(args.fixture, work / "studies", args.studies + 1)
    rows = []
    for workers in args.workers:
        ready, seen = measure_draft(paths, work, workers=workers, quiet_s=args.quiet_s)
        rows.append((workers, ready, seen))
        print(f"  {workers} worker process(es): done", flush=True)
    shutil.rmtree(work / "studies", ignore_errors=True)
    print(
        "\n| worker processes | processes | stored -> draft ready p50 / p95 (s) | success -> draft seen p50 / p95 (s) |"
    )
    print("|---|---|---|---|")
    for workers, ready, seen in rows:
        print(
            f"| {workers} | `januscxr dicom listen` + {workers} x `januscxr worker` | "
            f"{statistics.median(ready):.2f} / {percentile(ready, 95):.2f} | "
            f"{statistics.median(seen):.2f} / {percentile(seen, 95):.2f} |"
        )


if __name__ == "__main__":
    main()
