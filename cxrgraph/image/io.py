"""Read radiographs from disk and check image tensors at the model's door.

**The one pixel convention of** :mod:`cxrgraph.image`: an image is a ``float32`` tensor of
shape ``[1, H, W]`` (one channel), values in ``[0, 1]``, air dark (lung fields low) and bone
bright, and ``MIN_SIDE <= H, W <= MAX_SIDE``. Files are mapped the way a viewer shows them:

* 8-bit JPEG / PNG: ``value / 255`` (these were windowed when they were exported);
* 16-bit PNG: ``value / (2**bits - 1)`` where ``bits`` (10 to 16) is the smallest depth that
  holds the file's largest value, so 12-bit data saved as 16-bit PNG is not shown 16 times
  too dark;
* DICOM (needs ``pydicom``): the modality LUT (rescale slope / intercept or a Modality LUT
  Sequence), then the first VOI LUT or window centre / width (``LINEAR``, ``LINEAR_EXACT``,
  ``SIGMOID``) as the file prescribes, or, when it prescribes none, a robust window from the
  0.5th to the 99.5th percentile; ``MONOCHROME1`` (and an ``INVERSE`` presentation LUT) is
  inverted so that air stays dark. Compressed transfer syntaxes decode when pydicom has a
  decoder for them (``pip install 'cxrgraph[dicom]'``); multi-frame and non-image objects are
  refused;
* RGB(A) files: the ITU-R BT.601 luminance of the colour channels (alpha dropped).

Arrays given to :func:`to_image_tensor` are mapped by their type: ``uint8`` by 255, ``uint16``
by 65535, other integer types by 255 or 65535 (whichever holds their values), floats as they are.

Every model in the package calls :func:`check_image_tensor` on its input, so a wrong scale, a
wrong channel count or an absurd size fails loudly instead of silently producing garbage.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "ImageInputError",
    "SkippedImage",
    "MIN_SIDE",
    "MAX_SIDE",
    "IMAGE_SUFFIXES",
    "read_image",
    "to_image_tensor",
    "check_image_tensor",
    "check_image_batch",
    "resize_image",
    "iter_images",
    "read_images",
    "find_images",
]

logger = logging.getLogger(__name__)

#: Smallest accepted image side in pixels: below it no region can be placed.
MIN_SIDE = 32
#: Largest accepted image side in pixels (real radiographs are below ~4,300 px).
MAX_SIDE = 12_000
#: File suffixes that :func:`find_images` and :func:`read_image` recognise.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".dcm", ".dicom")

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# tolerance on the [0, 1] range: resizing with antialiasing can overshoot by rounding
_RANGE_EPS = 1e-4


class ImageInputError(ValueError):
    """An image file or tensor cannot be used: corrupt, empty, absurd size, wrong channels or scale.

    ``source`` names the file (or the tensor's name) and ``problem`` says what is wrong.
    """

    def __init__(self, source: str | Path, problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{source}: {problem}")


@dataclass(frozen=True)
class SkippedImage:
    """A file that a batch job skipped, and why."""

    path: str
    problem: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "problem": self.problem}


# ---------------------------------------------------------------------------- checks
def _check_side(source: str | Path, height: int, width: int) -> None:
    if height == 0 or width == 0:
        raise ImageInputError(source, f"empty image ({height}x{width} pixels)")
    for side, name in ((height, "height"), (width, "width")):
        if side < MIN_SIDE or side > MAX_SIDE:
            raise ImageInputError(
                source, f"absurd size {height}x{width} pixels: {name} must be within [{MIN_SIDE}, {MAX_SIDE}]"
            )


def check_image_tensor(image: Any, name: str = "image") -> torch.Tensor:
    """Check one image against the package's pixel convention and return it unchanged.

    Args:
        image: The tensor to check: ``float32`` ``[1, H, W]`` with values in ``[0, 1]``.
        name: How error messages name the input (e.g. a file path).

    Raises:
        ImageInputError: Not a tensor, wrong dtype, wrong shape or channel count, absurd size,
            non-finite values or values outside ``[0, 1]``.
    """
    if not isinstance(image, torch.Tensor):
        raise ImageInputError(name, f"expected a torch.Tensor, got {type(image).__name__}")
    if image.dtype != torch.float32:
        raise ImageInputError(name, f"dtype must be torch.float32 with values in [0, 1], got {image.dtype}")
    if image.dim() != 3:
        raise ImageInputError(name, f"expected shape [1, H, W], got {list(image.shape)}")
    if image.size(0) != 1:
        raise ImageInputError(
            name, f"wrong channel count: expected 1 (grayscale), got {image.size(0)} (shape {list(image.shape)})"
        )
    _check_side(name, image.size(1), image.size(2))
    if not torch.isfinite(image).all():
        raise ImageInputError(name, "holds NaN or inf")
    lo, hi = float(image.min()), float(image.max())
    if lo < -_RANGE_EPS or hi > 1 + _RANGE_EPS:
        raise ImageInputError(
            name,
            f"values must lie in [0, 1] (see cxrgraph.image.io), got [{lo:.4g}, {hi:.4g}]; divide by the bit range",
        )
    return image


def check_image_batch(images: Any, name: str = "images") -> list[torch.Tensor]:
    """Check a batch: a ``[B, 1, H, W]`` tensor, a sequence of ``[1, H, W]`` tensors, or one
    ``[1, H, W]`` image.

    Returns the images as a list of ``[1, H, W]`` tensors.
    """
    if isinstance(images, torch.Tensor):
        if images.dim() == 3:
            return [check_image_tensor(images, name)]  # one image
        if images.dim() != 4:
            raise ImageInputError(name, f"a batch tensor must have shape [B, 1, H, W], got {list(images.shape)}")
        images = list(images)
    images = list(images)
    if not images:
        raise ImageInputError(name, "empty batch")
    return [check_image_tensor(img, f"{name}[{i}]") for i, img in enumerate(images)]


# ---------------------------------------------------------------------------- conversion
def to_image_tensor(array: Any, source: str | Path = "array", *, bit_range: float | None = None) -> torch.Tensor:
    """Convert a numpy array or tensor to the package's pixel convention.

    Accepted layouts: ``H x W``, ``H x W x C`` with C in {1, 3, 4} (RGB(A): luminance, alpha
    dropped) and ``1 x H x W`` / ``3 x H x W`` tensors. ``uint8`` and ``uint16`` arrays are
    divided by their type's range, other integer arrays by 255 or 65535 (the smallest that
    holds their values), or all by ``bit_range`` when given; float arrays must already lie in
    ``[0, 1]``.

    Raises:
        ImageInputError: Wrong number of dimensions or channels, empty or absurd size, values
            out of range, complex or non-numeric values.
    """
    if isinstance(array, torch.Tensor):
        t = array.detach().cpu()
        if t.dim() == 3 and t.size(0) in (1, 3, 4) and t.size(-1) not in (1, 3, 4):
            t = t.permute(1, 2, 0)  # CHW -> HWC
        array = t.numpy()
    arr = np.asarray(array)
    if np.iscomplexobj(arr):
        raise ImageInputError(source, f"complex pixel values ({arr.dtype}); pass the real image (e.g. its magnitude)")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ImageInputError(source, f"not a numeric image array (dtype {arr.dtype})")
    if arr.ndim == 3:
        channels = arr.shape[2]
        if channels == 1:
            arr = arr[:, :, 0]
        elif channels in (3, 4):
            arr = _luminance(arr[:, :, :3])
        else:
            raise ImageInputError(
                source, f"wrong channel count: {channels} channels (shape {list(arr.shape)}); expected 1, 3 or 4"
            )
    elif arr.ndim != 2:
        raise ImageInputError(source, f"expected a 2-D grayscale or 3-D colour image, got shape {list(arr.shape)}")
    _check_side(source, arr.shape[0], arr.shape[1])
    if bit_range is not None:
        out = arr.astype(np.float32) / np.float32(bit_range)
    elif arr.dtype == np.bool_:
        out = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.integer):
        out = arr.astype(np.float32) / np.float32(_integer_range(arr, source))
    else:
        out = arr.astype(np.float32)
    tensor = torch.from_numpy(np.ascontiguousarray(out)).unsqueeze(0)
    return check_image_tensor(tensor, str(source))


def _integer_range(arr: np.ndarray, source: str | Path) -> int:
    # uint8 / uint16 are read by their type; a wider (or signed) integer array carries no bit
    # depth, so take the smallest of 8 or 16 bits that holds it instead of the type's range
    if arr.dtype in (np.uint8, np.uint16):
        return int(np.iinfo(arr.dtype).max)
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0:
        raise ImageInputError(source, f"negative integer pixels (min {lo}); pass bit_range or a float array in [0, 1]")
    for bits in (8, 16):
        if hi <= 2**bits - 1:
            return 2**bits - 1
    raise ImageInputError(
        source, f"integer pixels up to {hi} exceed 16 bits; pass bit_range or a float array in [0, 1]"
    )


def _luminance(rgb: np.ndarray) -> np.ndarray:
    # grayscale saved as RGB has equal channels: keep the exact values
    if np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 0], rgb[:, :, 2]):
        return rgb[:, :, 0]
    out = rgb.astype(np.float32) @ _LUMA
    if np.issubdtype(rgb.dtype, np.integer):
        out = np.clip(np.round(out), 0, np.iinfo(rgb.dtype).max).astype(rgb.dtype)
    return out


def resize_image(image: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize a ``[1, H, W]`` (or ``[B, 1, H, W]``) image to ``size`` (square or ``(H, W)``).

    Bilinear with antialiasing; the result is clamped back into ``[0, 1]``. The aspect ratio
    is not kept, so normalised box coordinates stay valid.
    """
    hw = (size, size) if isinstance(size, int) else tuple(size)
    batched = image.dim() == 4
    x = image if batched else image.unsqueeze(0)
    if tuple(x.shape[-2:]) != hw:
        x = torch.nn.functional.interpolate(x, size=hw, mode="bilinear", align_corners=False, antialias=True)
        x = x.clamp_(0.0, 1.0)
    return x if batched else x.squeeze(0)


# ---------------------------------------------------------------------------- files
def read_image(path: str | Path, size: int | tuple[int, int] | None = None) -> torch.Tensor:
    """Read a JPEG, PNG (8- or 16-bit) or DICOM file as a ``float32 [1, H, W]`` tensor in ``[0, 1]``.

    Args:
        path: The file.
        size: Resize to this side (or ``(H, W)``) after reading; ``None`` keeps the file's size.

    Raises:
        FileNotFoundError: No such file.
        ImageInputError: The file is empty, corrupt, not an image, has an absurd size, a
            wrong channel count, or is blank (every pixel the same value).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    if path.stat().st_size == 0:
        raise ImageInputError(path, "empty file (0 bytes)")
    if path.suffix.lower() in (".dcm", ".dicom") or _looks_like_dicom(path):
        image = _read_dicom(path)
    else:
        image = _read_pil(path)
    if float(image.max()) == float(image.min()):
        raise ImageInputError(path, f"blank image: every pixel has the value {float(image.min()):.4g}")
    if size is not None:
        image = resize_image(image, size)
    return image


def _looks_like_dicom(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(132)
    return len(head) == 132 and head[128:132] == b"DICM"


def _read_pil(path: Path) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            width, height = im.size
            # check the header's size before decoding, so a huge file is refused cheaply
            _check_side(path, height, width)
            mode = im.mode
            im.load()
            if mode in ("1", "L", "P", "RGB", "RGBA", "LA", "I;16", "I;16B", "I;16L", "I", "F"):
                if mode == "P":
                    im = im.convert("RGBA" if "transparency" in im.info else "RGB")
                    mode = im.mode
                if mode == "LA":
                    im = im.getchannel("L")
                    mode = "L"
                arr = np.asarray(im)
            else:
                raise ImageInputError(path, f"wrong channel count / unsupported pixel mode {mode!r}")
    except ImageInputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageInputError(path, f"corrupt or unreadable image file ({err})") from err
    except Image.DecompressionBombError as err:  # pragma: no cover - guarded by _check_side first
        raise ImageInputError(path, f"absurd size ({err})") from err

    bit_range: float | None = None
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        # Pillow may open 16-bit grayscale PNG as 32-bit "I": its values are still 16-bit
        if arr.min() < 0 or arr.max() > 65535:
            raise ImageInputError(path, f"32-bit integer pixels out of the 16-bit range [{arr.min()}, {arr.max()}]")
        bit_range = float(2 ** _bits_holding(int(arr.max())) - 1)
    elif mode == "F":
        raise ImageInputError(path, "floating-point image files have no defined bit range; convert to 8 or 16 bit")
    elif mode == "1":
        arr = arr.astype(np.uint8)
        bit_range = 1.0
    return to_image_tensor(arr, path, bit_range=bit_range)


def _bits_holding(value: int) -> int:
    """The smallest depth of 10 to 16 bits whose range holds ``value``."""
    return min(16, max(10, int(value).bit_length()))


def _read_dicom(path: Path) -> torch.Tensor:
    from cxrgraph.image.dicom import read_dicom_pixels

    return to_image_tensor(read_dicom_pixels(path), path)


# ---------------------------------------------------------------------------- batches
def find_images(root: str | Path) -> list[Path]:
    """All image files (by suffix) under ``root``, sorted."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such file or folder")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def iter_images(
    paths: Iterable[str | Path],
    size: int | tuple[int, int] | None = None,
    skipped: list[SkippedImage] | None = None,
) -> Iterator[tuple[Path, torch.Tensor]]:
    """Yield ``(path, image)`` for each readable file; record and skip the bad ones.

    Args:
        paths: Image files.
        size: Optional resize (see :func:`read_image`).
        skipped: A list that receives a :class:`SkippedImage` per file that could not be read.
    """
    for p in paths:
        path = Path(p)
        try:
            image = read_image(path, size=size)
        except (ImageInputError, FileNotFoundError, ImportError) as err:
            problem = err.problem if isinstance(err, ImageInputError) else str(err)
            logger.warning("skipping %s: %s", path, problem)
            if skipped is not None:
                skipped.append(SkippedImage(str(path), problem))
            continue
        yield path, image


def read_images(
    paths: Iterable[str | Path], size: int | tuple[int, int] | None = None
) -> tuple[list[tuple[Path, torch.Tensor]], list[SkippedImage]]:
    """Read many files; return the good ``(path, image)`` pairs and the skipped files."""
    skipped: list[SkippedImage] = []
    good = list(iter_images(paths, size=size, skipped=skipped))
    return good, skipped
