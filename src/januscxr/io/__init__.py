"""Reading chest radiographs from DICOM, PNG and JPEG files into :class:`Image` values."""

from januscxr.io.dicom import read_dicom
from januscxr.io.header import read_header
from januscxr.io.raster import read_raster
from januscxr.io.reader import IMAGE_SUFFIXES, ImageFormat, find_images, read_image, sniff_format

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageFormat",
    "find_images",
    "read_dicom",
    "read_header",
    "read_image",
    "read_raster",
    "sniff_format",
]
