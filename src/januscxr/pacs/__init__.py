"""The DICOM edge: the DIMSE listener (C-ECHO, C-STORE SCP) that hands received radiographs to ingest."""

from januscxr.errors import DicomListenerError
from januscxr.pacs.callers import CallerRule, parse_callers
from januscxr.pacs.conformance import RADIOGRAPH_SOP_CLASSES, decodable_transfer_syntaxes
from januscxr.pacs.listener import DicomListener, Disposition, ListenerConfig, Receiver, StoreResult

__all__ = [
    "RADIOGRAPH_SOP_CLASSES",
    "CallerRule",
    "DicomListener",
    "DicomListenerError",
    "Disposition",
    "ListenerConfig",
    "Receiver",
    "StoreResult",
    "decodable_transfer_syntaxes",
    "parse_callers",
]
