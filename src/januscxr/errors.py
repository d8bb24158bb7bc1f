"""The JanusCxrError tree: every error a user can cause, with a one-line message.

Messages name the file or field and say what was received and what was expected.
:data:`EXIT_CODES` and :data:`HTTP_STATUS` are the one mapping the edges use.
"""

from __future__ import annotations


class JanusCxrError(Exception):
    """Base class of every error januscxr raises on bad input or missing resources."""


class ImageReadError(JanusCxrError):
    """The file is not an image januscxr can read: unknown format, truncated or corrupt."""


class ImageTooLargeError(ImageReadError):
    """An image whose declared size is over the pixel limit; refused before its pixels are decoded."""


class ReadTimeoutError(ImageReadError):
    """Decoding one image took longer than the read time limit; it was abandoned."""

    def __init__(self, message: str, *, timeout_s: float) -> None:
        super().__init__(message)
        self.timeout_s = timeout_s


class UnsupportedImageError(JanusCxrError):
    """The file is an image but not a chest radiograph januscxr accepts."""


class WrongModalityError(UnsupportedImageError):
    """A DICOM of a modality other than CR, DX or DR (CT, MR, US...)."""


class WrongBodyPartError(UnsupportedImageError):
    """A DICOM whose Body Part Examined is not the chest."""


class LateralViewError(UnsupportedImageError):
    """A lateral view where a frontal (PA or AP) view is required."""


class ImageTooSmallError(UnsupportedImageError):
    """An image with too few pixels to read."""


class NotChestRadiographError(UnsupportedImageError):
    """The chest-radiograph gate refused the pixels: blank, noise, a photograph, a document, another modality..."""


class ModelError(JanusCxrError):
    """A model cannot be found, loaded or verified."""


class UnknownModelError(ModelError):
    """No model of that name is registered."""


class WeightsNotFoundError(ModelError):
    """The weights file of a registered model is missing."""


class ChecksumMismatchError(ModelError):
    """The weights file does not match the sha256 in the registry."""


class ModelOutOfMemoryError(ModelError):
    """A model ran out of GPU or CPU memory while loading or generating."""


class HubUnreachableError(ModelError):
    """The model hub cannot be reached to pull weights."""


class ManifestError(JanusCxrError):
    """A training manifest is missing a column or has a bad row."""


class ReportInputError(JanusCxrError):
    """A file of reports to label is missing a column or has an empty or undecodable report."""


class DicomEncodingError(ReportInputError):
    """A value cannot be written into a DICOM object: a control character, too long, or not encodable."""


class MessageEncodingError(ReportInputError):
    """A value cannot be written into an HL7 v2 message or a FHIR resource: missing, a control character, too long."""


class EvaluationInputError(JanusCxrError):
    """An evaluation input is unusable: a missing column, an empty or invalid cell, ids that do not match."""


class StorageError(JanusCxrError):
    """A reading-room record cannot be stored or found as asked."""


class NotFoundError(StorageError):
    """No study, image, report or user with that id."""


class ConflictError(StorageError):
    """The record changed since it was read (another reader signed or saved first), or already exists."""


class ReportStateError(StorageError):
    """The report's status does not allow the action: editing a signed report, signing twice."""


class ConfigurationError(JanusCxrError):
    """A setting is malformed or cannot be honoured (an AE title, a port that cannot be bound)."""


class DicomListenerError(ConfigurationError):
    """A DICOM listener setting is malformed (an AE title, an allowed caller) or its port cannot be bound."""


class AuthenticationError(JanusCxrError):
    """Not logged in, a wrong password, or an expired session."""


class AccessDeniedError(JanusCxrError):
    """Logged in, but the role does not allow the action, or the CSRF token is missing or wrong."""


class LoginRateLimitedError(AuthenticationError):
    """Too many failed logins from one address or for one user name in a short time."""


class DeliveryError(JanusCxrError):
    """A destination (RIS, EHR, PACS) refused, timed out or answered nonsense; ``retryable`` says whether to try again."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


EXIT_CODES: dict[type[JanusCxrError], int] = {
    ImageReadError: 3,
    UnsupportedImageError: 4,
    ModelError: 5,
    ManifestError: 6,
    ReportInputError: 6,
    EvaluationInputError: 6,
    StorageError: 7,
    ConfigurationError: 9,
    AuthenticationError: 8,
    AccessDeniedError: 8,
    DeliveryError: 10,
}

HTTP_STATUS: dict[type[JanusCxrError], int] = {
    ImageReadError: 422,
    UnsupportedImageError: 422,
    UnknownModelError: 404,
    ModelError: 503,
    ManifestError: 422,
    ReportInputError: 422,
    EvaluationInputError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    ReportStateError: 409,
    StorageError: 500,
    LoginRateLimitedError: 429,
    AuthenticationError: 401,
    AccessDeniedError: 403,
    DeliveryError: 502,
}


def exit_code_for(error: JanusCxrError) -> int:
    """The CLI exit code of an error: the entry of its nearest registered ancestor."""
    return _nearest(EXIT_CODES, error, default=1)


def http_status_for(error: JanusCxrError) -> int:
    """The HTTP status of an error: the entry of its nearest registered ancestor."""
    return _nearest(HTTP_STATUS, error, default=500)


def _nearest(table: dict[type[JanusCxrError], int], error: JanusCxrError, *, default: int) -> int:
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    return default
