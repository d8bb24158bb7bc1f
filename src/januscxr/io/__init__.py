"""Reading chest radiographs from DICOM, PNG and JPEG files into :class:`Image` values."""

from januscxr.io.dicom import read_dicom
from januscxr.io.header import read_header
from januscxr.io.limits import DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE_PX, pixel_limit
from januscxr.io.raster import read_raster
from januscxr.io.reader import (
    IMAGE_SUFFIXES,
    ImageFormat,
    ImageSearch,
    find_images,
    read_image,
    search_images,
    sniff_format,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_SIDE_PX",
    "IMAGE_SUFFIXES",
    "ImageFormat",
    "ImageSearch",
    "find_images",
    "pixel_limit",
    "read_dicom",
    "read_header",
    "read_image",
    "read_raster",
    "search_images",
    "sniff_format",
]
