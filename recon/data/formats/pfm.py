"""Portable Float Map (PFM) read/write: the float image format of Middlebury 2014 and SceneFlow ground truth.

A PFM file is three ASCII header lines followed by raw float32 samples::

    PF | Pf          magic: "PF" = 3 channels (RGB), "Pf" = 1 channel
    <width> <height>
    <scale>          non-zero; its sign gives the byte order (< 0 little endian, > 0 big endian)

The samples are stored row by row from the BOTTOM row of the image to the top, channels interleaved.
The magnitude of ``scale`` is conventionally 1 and is not applied to the samples. Middlebury 2014 marks
pixels without ground truth with ``+inf``; the values are returned as stored.
"""

from pathlib import Path

import numpy as np

_CHANNELS = {b"Pf": 1, b"PF": 3}
_MAX_HEADER_LINE = 256


def _header_line(f, path: Path, what: str) -> bytes:
    line = f.readline(_MAX_HEADER_LINE)
    if not line.endswith(b"\n"):
        raise ValueError(f"{path}: corrupt PFM header: {what} line missing or not newline-terminated")
    return line.strip()


def read_pfm_header(path: str | Path) -> tuple[int, int, int, float, int]:
    """Check a PFM file's header and length without reading its samples.

    Returns:
        ``(height, width, channels, scale, data_offset)``.
    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: naming ``path``, for a bad magic, malformed/non-positive dimensions, a zero or non-numeric
            scale, or a file shorter than the header announces (truncated data).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PFM file not found: {path}")
    with open(path, "rb") as f:
        magic = _header_line(f, path, "magic")
        if magic not in _CHANNELS:
            raise ValueError(f"{path}: not a PFM file: magic {magic[:16]!r}, expected b'PF' or b'Pf'")
        channels = _CHANNELS[magic]
        dims = _header_line(f, path, "dimensions").split()
        try:
            width, height = (int(v) for v in dims)
        except ValueError:
            raise ValueError(
                f"{path}: corrupt PFM header: dimensions {b' '.join(dims)[:32]!r}, expected '<width> <height>'"
            ) from None
        if width <= 0 or height <= 0:
            raise ValueError(f"{path}: corrupt PFM header: non-positive size {width}x{height}")
        scale_text = _header_line(f, path, "scale")
        try:
            scale = float(scale_text)
        except ValueError:
            raise ValueError(f"{path}: corrupt PFM header: scale {scale_text[:32]!r} is not a number") from None
        if scale == 0.0 or not np.isfinite(scale):
            raise ValueError(f"{path}: corrupt PFM header: scale must be finite and non-zero, got {scale}")
        offset = f.tell()
    available, needed = path.stat().st_size - offset, 4 * width * height * channels
    if available < needed:
        raise ValueError(
            f"{path}: truncated PFM data: {available} bytes, header {magic.decode()} {width}x{height} needs {needed}"
        )
    return height, width, channels, scale, offset


def read_pfm(path: str | Path) -> np.ndarray:
    """Read a PFM file.

    Returns:
        ``(H, W)`` float32 for ``Pf`` files, ``(H, W, 3)`` float32 for ``PF`` files, top row first, native
        byte order (a fresh, writable array).

    Raises:
        FileNotFoundError, ValueError: as :func:`read_pfm_header`.
    """
    height, width, channels, scale, offset = read_pfm_header(path)
    count = width * height * channels
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(4 * count)
    if len(data) < 4 * count:  # the file shrank since its header was checked
        raise ValueError(
            f"{path}: truncated PFM data: {len(data)} bytes, {width}x{height}x{channels} needs {4 * count}"
        )
    dtype = np.dtype("<f4" if scale < 0 else ">f4")
    image = np.frombuffer(data, dtype=dtype, count=count).reshape(height, width, channels)
    image = image[::-1].astype(np.float32)  # bottom-to-top -> top-to-bottom; native order; copy
    return image[..., 0] if channels == 1 else image


def write_pfm(path: str | Path, image, little_endian: bool = True) -> None:
    """Write ``image`` as PFM: ``(H, W)`` or ``(H, W, 1)`` -> ``Pf``, ``(H, W, 3)`` -> ``PF``.

    Values are stored as float32 (inf/NaN included) with scale magnitude 1; reading the file back with
    :func:`read_pfm` returns exactly ``image.astype(float32)``.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"PFM images are (H, W) or (H, W, 3), got shape {image.shape} for {path}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"cannot write an empty image of shape {image.shape} to {path}")
    height, width = image.shape[:2]
    magic = "Pf" if image.ndim == 2 else "PF"
    scale = "-1.0" if little_endian else "1.0"
    data = image[::-1].astype("<f4" if little_endian else ">f4").tobytes()
    with open(path, "wb") as f:
        f.write(f"{magic}\n{width} {height}\n{scale}\n".encode("ascii"))
        f.write(data)
