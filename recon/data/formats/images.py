"""Image reading with errors that name the file: RGB images as tensors, single-channel integer maps as arrays.

This is recon's one image decoder: dataset readers, ``recon-predict`` and the stereo/multi-view loaders all call it.
Decoding is Pillow's. ``read_rgb`` maps every common mode to ``(3, H, W)`` float32 RGB in [0, 1]: gray (1, 8 or
16 bits) is replicated to three channels, 16-bit gray is divided by 65535, alpha is dropped (not composited: the
colour values as stored), palettes are expanded. Modes whose RGB is only approximated by Pillow's conversion (CMYK,
YCbCr, LAB, HSV) are converted too, unless ``strict=True`` (user photos in ``recon-predict``) refuses them.
``read_single_channel`` returns the stored integers unchanged (uint8 or uint16), e.g. for KITTI's 16-bit
disparity PNGs or Middlebury's 8-bit disparity and mask PNGs.
"""

import math
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

SIXTEEN_BIT_GRAY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
GRAY_MODES = ("1", "L", "LA", *SIXTEEN_BIT_GRAY_MODES)
COLOUR_MODES = ("RGB", "RGBA", "RGBX", "P", "PA")
CONVERTED_MODES = ("CMYK", "YCbCr", "LAB", "HSV")  # RGB only approximated (no colour management)


def _load(path: Path) -> Image.Image:
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()  # decodes everything: truncated data raises here
            return image
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:  # PIL's corrupt-data signals
        raise ValueError(f"cannot decode image {path}: {error}") from error


def image_size(path: str | Path) -> tuple[int, int]:
    """``(H, W)`` of an image file from its header alone (no decoding: truncated pixel data is not noticed here).

    Raises FileNotFoundError or ValueError naming ``path`` for a missing file or an unrecognised/corrupt header.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"cannot decode image {path}: {error}") from error
    return height, width


def is_gray(mode: str) -> bool:
    """Whether a Pillow mode stores gray values (with or without alpha)."""
    return mode in GRAY_MODES


def read_image(path: str | Path, strict: bool = False) -> tuple[torch.Tensor, str]:
    """Read an image file as ``(3, H, W)`` float32 RGB in [0, 1] and its Pillow mode (see the module docstring).

    Raises FileNotFoundError / ValueError naming ``path`` for a missing or undecodable file, a mode with no RGB
    reading (e.g. float ``F``), or, with ``strict``, a mode whose RGB would only be approximated (e.g. CMYK).
    """
    path = Path(path)
    image = _load(path)
    mode = image.mode
    if strict and mode in CONVERTED_MODES:
        raise ValueError(f"{path}: image mode {mode!r} is neither gray nor RGB(A); convert it to RGB")
    if mode in SIXTEEN_BIT_GRAY_MODES:
        gray = np.clip(np.asarray(image).astype(np.float32) / 65535.0, 0.0, 1.0)
        array = np.repeat(gray[..., None], 3, axis=2)
    elif mode in ("L", "1"):
        array = np.repeat(np.asarray(image.convert("L"))[..., None], 3, axis=2).astype(np.float32) / 255.0
    elif mode in ("LA", "P", "PA"):  # via RGBA: Pillow warns on palettes with per-entry transparency otherwise
        array = np.asarray(image.convert("RGBA").convert("RGB")).astype(np.float32) / 255.0
    elif mode in COLOUR_MODES or mode in CONVERTED_MODES:
        array = np.asarray(image.convert("RGB")).astype(np.float32) / 255.0
    else:
        raise ValueError(f"unsupported image mode {mode!r} in {path}")
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))), mode


def read_rgb(path: str | Path, strict: bool = False) -> torch.Tensor:
    """Read an image file as ``(3, H, W)`` float32 RGB in [0, 1] (gray replicated, alpha dropped); see
    :func:`read_image` for ``strict`` and the errors."""
    return read_image(path, strict)[0]


def read_single_channel(path: str | Path) -> np.ndarray:
    """Read a single-channel integer image exactly: ``(H, W)`` uint8 (8-bit) or uint16 (16-bit).

    Raises ValueError naming ``path`` for a multi-channel or float image (e.g. an RGB-coded disparity).
    """
    path = Path(path)
    image = _load(path)
    if image.mode == "L":
        return np.array(image, dtype=np.uint8)
    if image.mode in SIXTEEN_BIT_GRAY_MODES:
        array = np.array(image)
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise ValueError(f"{path}: values outside the 16-bit range in a mode {image.mode!r} image")
        return array.astype(np.uint16)
    raise ValueError(f"{path}: expected a single-channel 8- or 16-bit image, got mode {image.mode!r}")


def check_same_size(shape_a: tuple[int, ...], path_a: Path, shape_b: tuple[int, ...], path_b: Path) -> None:
    """Raise ValueError naming both files unless the trailing ``(H, W)`` of the two shapes agree."""
    if tuple(shape_a[-2:]) != tuple(shape_b[-2:]):
        raise ValueError(
            f"size mismatch: {path_a} is {shape_a[-1]}x{shape_a[-2]} (WxH) but {path_b} is {shape_b[-1]}x{shape_b[-2]}"
        )


def exif_focal_px(path: Path, width: int) -> float | None:
    """The focal length in pixels from EXIF ``FocalLengthIn35mmFilm`` (tag 41989; ``f = f35 / 36 mm * width``, the
    longer side), or None."""
    try:
        exif = Image.open(path).getexif()
        f35 = exif.get_ifd(0x8769).get(41989) or exif.get(41989)
    except Exception:  # noqa: BLE001 - unreadable EXIF: no focal length
        return None
    return float(f35) / 36.0 * width if f35 else None


def image_intrinsics_guess(path: Path, H: int, W: int, fov_deg: float) -> tuple[torch.Tensor, str]:
    """``K (3, 3)`` of an image of ``H x W`` pixels without calibration, and where it came from: the EXIF focal
    length (:func:`exif_focal_px`), else ``fov_deg`` across the longer side; square pixels, the principal point at
    the centre."""
    focal = exif_focal_px(path, max(H, W))
    source = "EXIF"
    if focal is None:
        focal, source = max(H, W) / 2 / math.tan(math.radians(fov_deg) / 2), f"fov_deg={fov_deg:g} guess"
    return torch.tensor([[focal, 0.0, (W - 1) / 2], [0.0, focal, (H - 1) / 2], [0.0, 0.0, 1.0]]), source


def grey_uint8(image: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` float RGB in [0, 1] -> ``(H, W)`` uint8 grey (OpenCV's weights), the input of OpenCV's features."""
    rgb = (image.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
