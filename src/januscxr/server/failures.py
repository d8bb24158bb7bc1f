"""Why an image has no AI read, in words a radiologist understands.

Every failure text the reading room shows (worklist, study page, upload results) comes from
:func:`describe_failure`: chosen by the error's class, never the exception's name or a server
path. Refusals (an image that is not what the AI reads) and failures (an image that could not
be read) are told apart by :func:`ai_status_for`.
"""

from __future__ import annotations

import re

from januscxr import errors
from januscxr.io.reader import MIN_SIDE_PX
from januscxr.storage.tables import AiStatus

INTERNAL = "AI failed: an internal error stopped the read; the administrator can see it in the server log."
_UNREADABLE = "The image could not be read: the file is damaged or in a form the AI cannot decode."
_NOT_AN_IMAGE = "Not an image: expected DICOM, PNG or JPEG."
_GATE_REASON = re.compile(r"not a frontal chest radiograph: (?P<reason>.+?)(?:; expected .*)?$")
_NUMBERS = re.compile(r"\s*\([^()]*\d[^()]*\)")  # "(chest probability 0.03 < 0.50)": for engineers
_STORED = re.compile(r"^(?P<name>[A-Z]\w*Error): (?P<message>.*)$", re.DOTALL)


def ai_status_for(error: BaseException) -> AiStatus:
    """REFUSED for an image the AI does not read (it is not a frontal chest radiograph), else FAILED."""
    return AiStatus.REFUSED if isinstance(error, errors.UnsupportedImageError) else AiStatus.FAILED


def describe_failure(error: BaseException) -> str:
    """One sentence for the reader: what happened to the image, chosen by the error's class."""
    message = str(error)
    if isinstance(error, errors.ReadTimeoutError):
        return f"Reading the image took longer than {error.timeout_s:g} s."
    if isinstance(error, errors.ImageTooLargeError):
        return "The image is too large to read: it has more pixels than this server accepts."
    if isinstance(error, errors.ImageReadError):
        if "truncated" in message:
            return "The image could not be read: the file is truncated."
        if "empty file" in message:
            return "The file is empty: expected DICOM, PNG or JPEG."
        return _NOT_AN_IMAGE if "not an image" in message or "not a DICOM" in message else _UNREADABLE
    if isinstance(error, errors.LateralViewError):
        return "Lateral view: the AI reads frontal views only."
    if isinstance(error, errors.ImageTooSmallError):
        return f"Image too small: the AI needs at least {MIN_SIDE_PX} pixels a side."
    if isinstance(error, errors.WrongModalityError):
        return "Not a chest radiograph: the DICOM header names another modality (the AI reads CR and DX)."
    if isinstance(error, errors.WrongBodyPartError):
        return "Not a chest radiograph: the DICOM header names another body part."
    if isinstance(error, errors.NotChestRadiographError):
        return f"Not a chest radiograph: {_gate_reason(message)}."
    if isinstance(error, errors.UnsupportedImageError):
        return "Not read by the AI: it reads frontal chest radiographs only."
    if isinstance(error, errors.ModelError):
        return "AI failed: the model could not be loaded; the administrator can see why in the server log."
    return INTERNAL


def describe_stored(text: str | None) -> str | None:
    """A stored failure text as :func:`describe_failure` words; rows written before it existed
    hold "ClassName: message", which is mapped through the class of that name."""
    match = _STORED.match(text or "")
    if match is None:
        return text
    cls = getattr(errors, match["name"], None)
    if not (isinstance(cls, type) and issubclass(cls, errors.JanusCxrError)):
        return INTERNAL
    return describe_failure(cls(match["message"]))


def _gate_reason(message: str) -> str:
    """The gate's reason ("looks like random noise"), without its scores."""
    match = _GATE_REASON.search(message)
    if match is None:
        return "the AI judged it not to be a frontal chest radiograph"
    return _NUMBERS.sub("", match["reason"]).strip() or "the AI judged it not to be a frontal chest radiograph"
