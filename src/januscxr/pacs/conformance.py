"""What the listener accepts as an SCP: SOP classes stored, SOP classes skipped, transfer syntaxes.

Radiograph classes are accepted only in transfer syntaxes whose pixels ``januscxr read`` decodes
(pydicom with the installed pylibjpeg plugins); every other storage class is accepted in any
syntax, so that ordinary PACS traffic (a CT series routed with the study) is acknowledged and
skipped instead of failing the sender's association.
"""

from __future__ import annotations

from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    ComputedRadiographyImageStorage,
    DeflatedExplicitVRLittleEndian,
    DigitalXRayImageStorageForPresentation,
    DigitalXRayImageStorageForProcessing,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
    SecondaryCaptureImageStorage,
)

RADIOGRAPH_SOP_CLASSES: tuple[UID, ...] = (
    ComputedRadiographyImageStorage,
    DigitalXRayImageStorageForPresentation,
    DigitalXRayImageStorageForProcessing,
)
SECONDARY_CAPTURE_SOP_CLASS: UID = SecondaryCaptureImageStorage
VERIFICATION_SOP_CLASS = UID("1.2.840.10008.1.1")  # C-ECHO

# Uncompressed first: an SCU that proposes several gets the cheapest to receive.
_CANDIDATE_SYNTAXES: tuple[UID, ...] = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEG2000Lossless,
    JPEG2000,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    HTJ2K,
    RLELossless,
)


def decodable_transfer_syntaxes() -> list[UID]:
    """The transfer syntaxes whose Pixel Data pydicom can decode with the plugins installed here."""
    return [uid for uid in _CANDIDATE_SYNTAXES if _decodable(uid)]


def stored_sop_classes(*, accept_secondary_capture: bool) -> tuple[UID, ...]:
    """The SOP classes whose chest radiographs are stored (the others are acknowledged and skipped)."""
    return RADIOGRAPH_SOP_CLASSES + ((SECONDARY_CAPTURE_SOP_CLASS,) if accept_secondary_capture else ())


def _decodable(uid: UID) -> bool:
    try:
        return bool(get_decoder(uid).is_available)
    except NotImplementedError:  # no decoder at all for this syntax in this pydicom
        return False
