"""DICOM pixels as a viewer shows them: modality LUT, VOI window, MONOCHROME1 inverted.

:func:`read_dicom_pixels` follows the display pipeline of the DICOM standard (PS3.3 C.11):
stored values → modality LUT (rescale slope / intercept or a Modality LUT Sequence) → the
first VOI LUT Sequence or window centre / width with its VOI LUT function → presentation
(``MONOCHROME1`` and an ``INVERSE`` presentation LUT shape are inverted, so air is dark).
A file that prescribes no window gets a robust one, from the 0.5th to the 99.5th percentile
of its modality values. The result is ``float32 [H, W]`` in ``[0, 1]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cxrgraph.image.io import ImageInputError

__all__ = ["read_dicom_pixels", "window_to_unit", "DICOM_EXTRA"]

#: What to install for DICOM files, compressed transfer syntaxes included.
DICOM_EXTRA = "pip install 'cxrgraph[dicom]'"
_DECODERS = (
    "JPEG 2000 via pylibjpeg-openjpeg or pillow; JPEG lossless / JPEG-LS via pylibjpeg-libjpeg "
    "(GPL-3.0, not in the extra: pip install pylibjpeg-libjpeg)"
)
_LUMA = np.array([0.299, 0.587, 0.114])
_ROBUST_PERCENTILES = (0.5, 99.5)


def _pydicom() -> Any:
    try:
        import pydicom
    except ImportError as err:
        raise ImportError(f"reading DICOM needs pydicom: {DICOM_EXTRA}") from err
    return pydicom


def _lut_functions() -> tuple[Any, Any]:
    try:  # pydicom >= 3
        from pydicom.pixels import apply_modality_lut, apply_voi_lut
    except ImportError:  # pragma: no cover - pydicom 2.x
        from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut
    return apply_modality_lut, apply_voi_lut


def window_to_unit(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """Map values through a DICOM window (PS3.3 C.11.2.1.2) onto ``[0, 1]``.

    Args:
        values: Modality values.
        center: Window centre.
        width: Window width (``>= 1``; ``> 0`` for ``LINEAR_EXACT`` and ``SIGMOID``).
        function: ``"LINEAR"``, ``"LINEAR_EXACT"`` or ``"SIGMOID"``.

    Raises:
        ValueError: Unknown function or a width the function does not allow.
    """
    function = (function or "LINEAR").upper()
    x = np.asarray(values, dtype=np.float64)
    if function == "LINEAR":
        if width < 1:
            raise ValueError(f"LINEAR window width must be >= 1, got {width}")
        out = (x - (center - 0.5)) / max(width - 1.0, 1e-12) + 0.5
    elif function == "LINEAR_EXACT":
        if width <= 0:
            raise ValueError(f"LINEAR_EXACT window width must be > 0, got {width}")
        out = (x - center) / width + 0.5
    elif function == "SIGMOID":
        if width <= 0:
            raise ValueError(f"SIGMOID window width must be > 0, got {width}")
        return 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    else:
        raise ValueError(f"unknown VOI LUT function {function!r}")
    return np.clip(out, 0.0, 1.0)


def _first(value: Any) -> float:
    # window centre / width may be multi-valued: the first pair is the default view
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = value[0]
    return float(value)


def _decode(ds: Any, path: Path) -> np.ndarray:
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    try:
        return np.asarray(ds.pixel_array)
    except Exception as err:  # pydicom raises many types for bad data and missing codecs
        compressed = ts is not None and getattr(ts, "is_compressed", False)
        if compressed and isinstance(err, (NotImplementedError, RuntimeError, ImportError, ValueError)):
            name = getattr(ts, "name", str(ts))
            raise ImageInputError(
                path,
                f"cannot decode its {name} pixel data ({type(err).__name__}: {err}); "
                f"a decoder is needed: {DICOM_EXTRA} ({_DECODERS})",
            ) from err
        raise ImageInputError(path, f"corrupt or unreadable DICOM pixel data ({type(err).__name__}: {err})") from err


def read_dicom_pixels(path: str | Path) -> np.ndarray:
    """Read one single-frame DICOM radiograph as ``float32 [H, W]`` in ``[0, 1]``, air dark.

    Raises:
        ImportError: pydicom is not installed (the message names the extra to install).
        ImageInputError: Not a DICOM file, no pixel data (a report, a structured document),
            more than one frame, an unsupported photometric interpretation or sample count,
            floating-point pixels, or compressed pixel data with no decoder installed.
    """
    pydicom = _pydicom()
    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except Exception as err:
        raise ImageInputError(path, f"corrupt or unreadable DICOM file ({type(err).__name__}: {err})") from err
    if "PixelData" not in ds and "SOPClassUID" not in ds:
        raise ImageInputError(
            path, "corrupt or unreadable DICOM file: neither pixel data nor a SOP class could be read"
        )
    what = f"SOP class {ds.get('SOPClassUID', '?')}, modality {ds.get('Modality', '?')}"
    if "PixelData" not in ds:
        kind = "float pixels" if ("FloatPixelData" in ds or "DoubleFloatPixelData" in ds) else "no pixel data"
        raise ImageInputError(path, f"not a radiograph: {kind} ({what})")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ImageInputError(path, f"multi-frame DICOM ({frames} frames, {what}); expected one radiograph")
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if samples not in (1, 3):
        raise ImageInputError(path, f"wrong channel count: SamplesPerPixel={samples}")
    if samples == 1 and photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ImageInputError(path, f"unsupported photometric interpretation {photometric!r} for a radiograph")
    arr = _decode(ds, path)
    if arr.ndim == (3 if samples == 1 else 4):
        raise ImageInputError(path, f"multi-frame pixel data of shape {list(arr.shape)}; expected one radiograph")
    if samples == 3:
        # colour (secondary capture): luminance of the stored range, no windowing
        bits = int(ds.get("BitsStored", 8) or 8)
        return np.clip(arr.astype(np.float64) @ _LUMA / (2**bits - 1), 0.0, 1.0).astype(np.float32)

    apply_modality_lut, apply_voi_lut = _lut_functions()
    values = np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)
    if "VOILUTSequence" in ds and len(ds.VOILUTSequence):
        # the LUT indexes integer modality values; its own output range sets the scale
        integral = np.array_equal(values, np.round(values))
        lut_in = values.astype(np.int64) if integral else values
        out = np.asarray(apply_voi_lut(lut_in, ds, index=0, prefer_lut=True), dtype=np.float64)
        count, first = int(ds.VOILUTSequence[0].LUTDescriptor[0]) or 65536, int(ds.VOILUTSequence[0].LUTDescriptor[1])
        span = np.asarray(apply_voi_lut(np.arange(first, first + count), ds, index=0, prefer_lut=True), np.float64)
        lo, hi = float(span.min()), float(span.max())
        unit = np.clip((out - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(out)
    elif ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
        try:
            unit = window_to_unit(
                values,
                _first(ds.WindowCenter),
                _first(ds.WindowWidth),
                str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR"),
            )
        except ValueError as err:
            raise ImageInputError(path, f"bad VOI window ({err})") from err
    else:
        lo, hi = np.percentile(values, _ROBUST_PERCENTILES)
        if hi <= lo:
            lo, hi = float(values.min()), float(values.max())
        unit = np.clip((values - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(values)
    inverse = str(ds.get("PresentationLUTShape", "IDENTITY") or "IDENTITY").upper() == "INVERSE"
    if (photometric == "MONOCHROME1") != inverse:
        unit = 1.0 - unit
    return unit.astype(np.float32)
