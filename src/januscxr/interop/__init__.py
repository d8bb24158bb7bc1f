"""Pure encoders of what januscxr sends out, no network: DICOM SR (TID 1500, TID 2000) and Secondary Capture.

Built from plain values (a source image's header, :class:`~januscxr.types.FindingResult`, report
text and signatures), tested by round trip and by ``dciodvfy``.
"""

from januscxr.errors import DicomEncodingError
from januscxr.interop.ai_sr import Algorithm, Presence, ai_result_sr
from januscxr.interop.heatmap_sc import HEATMAP_WARNING, heatmap_capture, heatmap_captures
from januscxr.interop.report_sr import Signature, SignedAddendum, draft_report_sr, report_sr
from januscxr.interop.source import NewInstance

__all__ = [
    "HEATMAP_WARNING",
    "Algorithm",
    "DicomEncodingError",
    "NewInstance",
    "Presence",
    "Signature",
    "SignedAddendum",
    "ai_result_sr",
    "draft_report_sr",
    "heatmap_capture",
    "heatmap_captures",
    "report_sr",
]
