"""COLMAP sparse model in text form (``cameras.txt``, ``images.txt``), read into a
:class:`~recon.data.formats.multiview_base.CameraSet`. ``points3D.txt`` (and ``rigs.txt``/``frames.txt``) are
not read; binary models (``*.bin``) are not supported: convert them with ``colmap model_converter
--output_type TXT``. Lines starting with ``#`` are comments.

``cameras.txt``: one line ``CAMERA_ID MODEL WIDTH HEIGHT PARAMS...`` per camera. Supported models:

- ``PINHOLE`` (``fx fy cx cy``) and ``SIMPLE_PINHOLE`` (``f cx cy``): exact;
- ``SIMPLE_RADIAL`` (``f cx cy k``) and ``RADIAL`` (``f cx cy k1 k2``): only with all distortion terms 0;
- anything else (``OPENCV``, ``FULL_OPENCV``, fisheye models, ...) is rejected: undistort the images first
  with ``colmap image_undistorter``, which writes ``PINHOLE`` cameras.

Principal point: COLMAP puts the origin at the top-left image CORNER, so the top-left pixel's centre is
``(0.5, 0.5)`` (COLMAP ``src/colmap/sensor/models.h``, "the upper left pixel center has coordinate (0.5, 0.5)";
``doc/faq.rst``: ``cx_colmap = cx_opencv + 0.5``). recon puts pixel centres at integer coordinates, so the
reader returns ``cx - 0.5, cy - 0.5``; focal lengths are unchanged.

``images.txt``: two lines per image, ``IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`` then the image's 2D
points (skipped; may be empty). ``(QW, QX, QY, QZ)`` is a unit Hamilton quaternion (scalar first) of ``R`` and
``(TX, TY, TZ)`` is ``t``; together the world-to-camera transform ``x_cam = R x_world + t`` in OpenCV axes (x
right, y down, z forward), as COLMAP's ``doc/format.rst`` states, so ``T_cw = [R t; 0 0 0 1]`` unchanged.
``NAME`` is relative to the image folder.

Views are returned in IMAGE_ID order with ``id = NAME`` and ``size = (HEIGHT, WIDTH)`` of their camera; COLMAP
text models carry no depth range, depth maps or view selection (those fields are None).
"""

from pathlib import Path

import numpy as np

from recon.data.formats.multiview_base import (
    ROTATION_TOL,
    CalibratedView,
    CameraSet,
    check_intrinsics,
    check_pose,
    numbered_lines,
    parse_int,
    parse_numbers,
    require_image,
)

# model name -> parameter names; the first three (or four for PINHOLE) are pinhole terms, the rest distortion
MODELS = {
    "SIMPLE_PINHOLE": ("f", "cx", "cy"),
    "PINHOLE": ("fx", "fy", "cx", "cy"),
    "SIMPLE_RADIAL": ("f", "cx", "cy", "k"),
    "RADIAL": ("f", "cx", "cy", "k1", "k2"),
}
PIXEL_CENTER_OFFSET = 0.5  # COLMAP pixel coordinate - recon pixel coordinate


def quaternion_to_rotation(q) -> np.ndarray:
    """``(3, 3)`` rotation matrix of the Hamilton quaternion ``q = (w, x, y, z)`` (normalised first)."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def read_colmap_cameras(path: str | Path) -> dict[int, tuple[np.ndarray, tuple[int, int]]]:
    """Parse ``cameras.txt`` into ``{CAMERA_ID: (K (3, 3) in recon's pixel convention, (HEIGHT, WIDTH))}``.

    Raises ValueError naming the file and line for a malformed line, a repeated id, an unsupported model or
    non-zero distortion (naming the camera id and model).
    """
    path = Path(path)
    cameras = {}
    for number, text in numbered_lines(path, comment="#"):
        where, tokens = f"{path}, line {number}", text.split()
        if len(tokens) < 4:
            raise ValueError(f"{where}: expected 'CAMERA_ID MODEL WIDTH HEIGHT PARAMS...', got {text[:60]!r}")
        camera_id = parse_int(tokens[0], where, "CAMERA_ID")
        model = tokens[1]
        width, height = (parse_int(t, where, name, minimum=1) for t, name in zip(tokens[2:4], ("WIDTH", "HEIGHT")))
        if camera_id in cameras:
            raise ValueError(f"{where}: camera {camera_id} defined twice")
        if model not in MODELS:
            raise ValueError(
                f"{where}: camera {camera_id} uses COLMAP model {model}, which recon does not read "
                f"(supported: {', '.join(MODELS)} without distortion); undistort the images with "
                "`colmap image_undistorter` and read its PINHOLE model"
            )
        names = MODELS[model]
        params = parse_numbers(tokens[4:], len(names), where, f"{model} parameters ({' '.join(names)})")
        if model == "PINHOLE":
            fx, fy, cx, cy = params
        else:
            (fx, cx, cy), distortion = params[:3], params[3:]
            fy = fx
            if np.any(distortion != 0):
                raise ValueError(
                    f"{where}: camera {camera_id} ({model}) has non-zero distortion "
                    f"{distortion.tolist()}; undistort the images with `colmap image_undistorter`"
                )
        K = [[fx, 0, cx - PIXEL_CENTER_OFFSET], [0, fy, cy - PIXEL_CENTER_OFFSET], [0, 0, 1]]
        cameras[camera_id] = (check_intrinsics(K, where), (height, width))
    return cameras


def read_colmap_text(model_dir: str | Path, image_dir: str | Path | None = None) -> CameraSet:
    """Read a COLMAP text model (conventions in the module docstring).

    Args:
        model_dir: folder holding ``cameras.txt`` and ``images.txt``.
        image_dir: folder the image names are relative to; default ``model_dir/../images`` (the layout of
            ``colmap image_undistorter``'s output: ``dense/sparse/`` and ``dense/images/``).
    Raises:
        FileNotFoundError: a missing model file, or an image named in ``images.txt`` (naming its line).
        ValueError: naming the file and line: malformed lines, unsupported camera models, unknown camera ids,
            repeated image ids, quaternions that are not unit length (to :data:`ROTATION_TOL`).
    """
    model_dir = Path(model_dir)
    image_dir = model_dir.parent / "images" if image_dir is None else Path(image_dir)
    if not (model_dir / "images.txt").is_file() and (model_dir / "images.bin").is_file():
        raise FileNotFoundError(
            f"{model_dir} holds a binary COLMAP model; convert it with "
            f"`colmap model_converter --input_path {model_dir} --output_path ... "
            "--output_type TXT`"
        )
    cameras = read_colmap_cameras(model_dir / "cameras.txt")
    path = model_dir / "images.txt"
    lines = numbered_lines(path, comment="#", keep_blank=True)
    views: dict[int, CalibratedView] = {}
    index = 0
    while index < len(lines):
        number, text = lines[index]
        if not text:  # blank lines between records; a record's (possibly blank) points line is skipped below
            index += 1
            continue
        where, tokens = f"{path}, line {number}", text.split(maxsplit=9)
        if len(tokens) != 10:
            raise ValueError(f"{where}: expected 'IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME', got {text[:80]!r}")
        image_id = parse_int(tokens[0], where, "IMAGE_ID")
        q = parse_numbers(tokens[1:5], 4, where, "quaternion QW QX QY QZ")
        t = parse_numbers(tokens[5:8], 3, where, "translation TX TY TZ")
        camera_id = parse_int(tokens[8], where, "CAMERA_ID")
        if image_id in views:
            raise ValueError(f"{where}: image {image_id} defined twice")
        if camera_id not in cameras:
            raise ValueError(f"{where}: image {image_id} uses camera {camera_id}, which cameras.txt does not define")
        if abs(np.linalg.norm(q) - 1) > ROTATION_TOL:
            raise ValueError(
                f"{where}: quaternion {q.tolist()} has norm {np.linalg.norm(q):.6g}, expected 1 (not a rotation)"
            )
        K, size = cameras[camera_id]
        T_cw = check_pose(np.column_stack([quaternion_to_rotation(q), t]), where)
        image = require_image(image_dir / tokens[9], where)
        views[image_id] = CalibratedView(tokens[9], image, K, T_cw, size=size)
        index += 2
    if not views:
        raise ValueError(f"{path}: no images")
    return CameraSet(model_dir, tuple(views[i] for i in sorted(views)))
