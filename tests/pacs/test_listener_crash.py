"""kill -9 of ``januscxr dicom listen`` in the middle of an association: nothing acknowledged is
lost, nothing is stored or read twice.

The sender is a pynetdicom SCU that kills the listener's process group from its own PDU events,
so that each kill lands at a chosen place in the byte stream: in the middle of an instance (the
listener holds half a dataset), as an instance's last fragment goes out (the listener is staging,
fsyncing or committing it, or has committed and not yet answered), and between two instances.
After each kill the listener is restarted and the sender, which cannot know what was stored,
sends everything again; then the workers (the job queue's, in this process) read what was stored.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.events import Event
from pynetdicom.pdu import P_DATA_TF
from sqlalchemy import select

from januscxr.server.datafolder import IMAGES, SPOOL, reconcile_data_dir
from januscxr.server.inference import InferencePool
from januscxr.storage.database import Database, open_database
from januscxr.storage.tables import AiResult, Image
from tests.conftest import chest_pixels, cr_dataset
from tests.pacs.conftest import SCP_AE, free_port

pytestmark = pytest.mark.pacs
ROOT = Path(__file__).resolve().parents[2]
ENV = {
    **os.environ,
    "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
    "JANUSCXR_CLASSIFIER": "fake-classifier",
    "JANUSCXR_JOB_POLL_S": "0.2",
    "OMP_NUM_THREADS": "1",
}
SUCCESS = 0x0000
STUDIES, PER_STUDY = 3, 4  # instances of 256 x 240 x 16 bit: ~120 KiB, 8 P-DATA-TF PDUs each
_COMMAND, _LAST = 0x01, 0x02  # PDV message control header bits

# (instance index, PDV fragment) -> whether to kill there.
KillPoint = Callable[[int, int, int], bool]


def mid_instance(index: int) -> KillPoint:
    """While instance ``index`` is on the wire: its third dataset fragment has been sent."""
    return lambda i, fragment, control: i == index and not control & _COMMAND and fragment == 3


def end_of_instance(index: int) -> KillPoint:
    """As instance ``index``'s last fragment has been sent: the listener is handling it."""
    return lambda i, fragment, control: i == index and control == _LAST


def before_instance(index: int) -> KillPoint:
    """After the answer to the instance before ``index``, as the command of ``index`` goes out."""
    return lambda i, fragment, control: i == index and bool(control & _COMMAND)


@dataclass
class Listener:
    """``januscxr dicom listen`` in its own process group, so that kill -9 takes it all at once."""

    data_dir: Path
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "januscxr.cli.app", "dicom", "listen", "--port", str(self.port)]
        command += ["--ae-title", SCP_AE, "--data-dir", str(self.data_dir)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, env=ENV, start_new_session=True, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while not _echo(self.port):
            assert self.process.poll() is None, f"januscxr dicom listen exited: {self.log.read_text()}"
            assert time.monotonic() < deadline, f"no C-ECHO answer within 60 s: {self.log.read_text()}"
            time.sleep(0.1)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the process group: no handler runs, the sender gets no goodbye."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.kill()


def _echo(port: int) -> bool:
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context("1.2.840.10008.1.1")
    assoc = ae.associate("127.0.0.1", port, ae_title=SCP_AE)
    if not assoc.is_established:
        return False
    response = assoc.send_c_echo()
    assoc.release()
    return "Status" in response and int(response.Status) == SUCCESS


@dataclass
class Sender:
    """A pynetdicom SCU that keeps every status it got and kills the listener at a :data:`KillPoint`."""

    listener: Listener
    statuses: dict[str, list[int | None]] = field(default_factory=dict)  # SOP Instance UID -> each attempt's
    _kill_at: KillPoint | None = None
    _index: int = 0
    _fragment: int = 0

    def send(self, instances: list[Dataset], *, kill_at: KillPoint | None = None) -> list[int | None]:
        """Send ``instances`` on one association, in order, until done or the association is gone;
        the statuses received (None: the association ended before an answer came)."""
        self._kill_at = kill_at
        ae = AE(ae_title="MODALITY")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
        ae.add_requested_context(DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian)
        handlers = [(evt.EVT_PDU_SENT, self._on_pdu_sent)]
        assoc = ae.associate("127.0.0.1", self.listener.port, ae_title=SCP_AE, evt_handlers=handlers)
        assert assoc.is_established
        statuses: list[int | None] = []
        for self._index, instance in enumerate(instances):
            self._fragment = 0
            response = assoc.send_c_store(instance) if assoc.is_established else Dataset()
            status = int(response.Status) if "Status" in response else None  # None: no answer came back
            self.statuses.setdefault(instance.SOPInstanceUID, []).append(status)
            statuses.append(status)
            if status is None:
                break
        if assoc.is_established:
            assoc.release()
        return statuses

    def acknowledged(self) -> set[str]:
        return {uid for uid, statuses in self.statuses.items() if SUCCESS in statuses}

    def _on_pdu_sent(self, event: Event) -> None:
        pdu = event.pdu
        if self._kill_at is None or not isinstance(pdu, P_DATA_TF) or not self.listener.alive:
            return
        for item in pdu.presentation_data_value_items:
            control = (item.data or b"\x00")[0]
            self._fragment += 0 if control & _COMMAND else 1
            if self._kill_at(self._index, self._fragment, control):
                self.listener.kill()
                return


def _instances() -> list[Dataset]:
    studies = [cr_dataset().StudyInstanceUID for _ in range(STUDIES)]
    instances = []
    for number in range(STUDIES * PER_STUDY):
        pixels = chest_pixels(256, 240) + np.uint16(number)  # distinct content, not only distinct UIDs
        instances.append(cr_dataset(pixels, StudyInstanceUID=studies[number % STUDIES], InstanceNumber=number + 1))
    return instances


def _staged_leftovers(data_dir: Path) -> list[str]:
    spool = data_dir / SPOOL
    return sorted(str(path.relative_to(data_dir)) for path in spool.rglob("*") if path.is_file())


def _read_everything(data_dir: Path, db: Database) -> None:
    """The workers, as ``januscxr worker`` runs them, until every stored image has been read."""
    pool = InferencePool(db, data_dir, classifier="fake-classifier")
    try:
        pool.requeue_pending()  # as a worker process does when it starts
        pool.wait_idle(timeout_s=120)
    finally:
        pool.shutdown()


def _stored(db: Database) -> Counter[str]:
    with db.read() as session:
        return Counter(session.scalars(select(Image.sop_instance_uid)))


def test_kill_9_of_the_listener_mid_association_loses_nothing_acknowledged_and_stores_nothing_twice(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    listener = Listener(data_dir, tmp_path / "listener.log")
    sender = Sender(listener)
    instances = _instances()
    uids = [instance.SOPInstanceUID for instance in instances]
    listener.start()
    db = open_database(f"sqlite:///{(data_dir / 'januscxr.db').resolve()}")
    try:
        for kill_at, answered in ((mid_instance(4), 4), (end_of_instance(3), 3), (before_instance(5), 5)):
            assert sender.send(instances, kill_at=kill_at) == [SUCCESS] * answered + [None]
            assert not listener.alive
            listener.start()  # a restart empties its staging folder before it listens
            assert _staged_leftovers(data_dir) == []
            stored = _stored(db)
            assert set(stored) >= sender.acknowledged()  # nothing acknowledged is lost
            assert set(stored) <= set(uids[: answered + 1]) and max(stored.values()) == 1
        assert sender.send(instances) == [SUCCESS] * len(instances)  # the sender resends everything it has
        assert listener.stop() == 0
        assert _stored(db) == Counter(uids)  # each instance once: duplicates were acknowledged, not stored
        reconciled = reconcile_data_dir(db, data_dir)  # what `januscxr serve` does when it starts
        assert reconciled.missing == 0  # no row lost its file
        assert reconciled.quarantined <= 1  # at most a file placed by a commit that the kill cut off
        with db.read() as session:
            files = {Path(path).name for path in session.scalars(select(Image.file_path))}
        assert {path.name for path in (data_dir / IMAGES).iterdir()} == files  # one file per row, no partials
        _read_everything(data_dir, db)
        with db.read() as session:
            read = Counter(
                session.scalars(select(Image.sop_instance_uid).join(AiResult, AiResult.image_id == Image.id))
            )
            errors = list(session.scalars(select(Image.error).where(Image.error.is_not(None))))
        assert errors == []
        assert read == Counter(uids)  # every instance read exactly once
    finally:
        if listener.alive:
            listener.kill()
        db.dispose()
