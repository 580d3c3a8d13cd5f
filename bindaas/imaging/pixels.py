"""Pixels a model can read from what clinicians send: a DICOM image (windowed as its header says) or a JPEG / PNG,
as 8-bit RGB. Anything else is refused in words, naming the problem."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from bindaas.errors import InvalidInput, Unsupported

IMAGE_TYPES = ("application/dicom", "image/jpeg", "image/png")


def rgb_from_bytes(data: bytes, content_type: str) -> np.ndarray:
    """An H×W×3 uint8 array from a DICOM object, JPEG or PNG (by ``content_type``); 4xx-worthy errors otherwise."""
    kind = content_type.split(";")[0].strip().lower()
    if kind not in IMAGE_TYPES:
        raise Unsupported(f"images are sent as {', '.join(IMAGE_TYPES)}; got {kind or 'no Content-Type'}",
                           field="Content-Type")
    if not data:
        raise InvalidInput("the image is empty", field="body")
    if kind == "application/dicom":
        return _dicom_rgb(data)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInput(f"the body is not a readable {kind} image ({exc})", field="body") from None


def _dicom_rgb(data: bytes) -> np.ndarray:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_voi_lut

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
        raise InvalidInput(f"the body is not a readable DICOM object ({exc})", field="body") from None
    if "PixelData" not in ds:
        raise InvalidInput("the DICOM object has no pixel data (an SR or other non-image object)", field="body")
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for codecs it lacks or damaged data
        raise InvalidInput(f"the DICOM pixel data cannot be decoded ({type(exc).__name__}: {exc})",
                           field="PixelData") from None
    if getattr(ds, "NumberOfFrames", 1) not in (None, 1) and pixels.ndim >= 3 and ds.SamplesPerPixel == 1:
        pixels = pixels[len(pixels) // 2]  # the middle frame of a multi-frame object
    if ds.get("SamplesPerPixel", 1) == 3:
        return np.ascontiguousarray(pixels.astype(np.uint8))
    # The window the modality chose (VOI LUT or window centre/width), else the full range, scaled to 8 bits.
    windowed = apply_voi_lut(pixels, ds) if ("WindowCenter" in ds or "VOILUTSequence" in ds) else pixels
    values = windowed.astype(np.float64)
    lo, hi = float(values.min()), float(values.max())
    scaled = np.zeros_like(values) if hi <= lo else (values - lo) / (hi - lo)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":  # white is low in MONOCHROME1
        scaled = 1.0 - scaled
    grey = np.round(scaled * 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)
