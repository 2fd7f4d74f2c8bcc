"""Middlebury multi-view stereo datasets (Seitz et al. 2006: dino*, temple*), read into a
:class:`~recon.data.formats.multiview_base.CameraSet`.

A dataset folder holds the images and one ``<name>_par.txt`` (``*_ang.txt`` and the silhouette lists are not
read)::

    N
    imgname.png k11 k12 k13 k21 k22 k23 k31 k32 k33 r11 r12 r13 r21 r22 r23 r31 r32 r33 t1 t2 t3
    ... (N lines)

The projection of a world point is ``K [R | t]``, so ``T_cw = [R t; 0 0 0 1]`` with OpenCV axes (the image
origin is the top-left, x to the right, y down, per the datasets' README). The README does not state where
pixel centres lie; K is used as stored, i.e. recon's integer-centre convention is assumed. Units: K in
pixels, t in the world units of the dataset (metres for the dino and temple sets). Image names are relative
to the folder of the ``_par.txt``; view ids are the image names. No depth range, depth maps or view selection.
"""

from pathlib import Path

import numpy as np

from recon.data.formats.multiview_base import (
    CalibratedView,
    CameraSet,
    check_intrinsics,
    check_pose,
    numbered_lines,
    parse_int,
    parse_numbers,
    require_image,
)

PAR_SUFFIX = "_par.txt"


def read_middlebury_mvs(path: str | Path) -> CameraSet:
    """Read a Middlebury multi-view ``*_par.txt`` (format in the module docstring).

    Args:
        path: the ``*_par.txt`` file, or a folder holding exactly one.
    Raises:
        FileNotFoundError: no (or more than one) ``*_par.txt`` in a folder, or an image named by a line that
            does not exist (naming the line).
        ValueError: naming the file and line: a malformed line, a count that does not match ``N``, intrinsics
            that are not upper triangular with positive focal lengths, or ``R`` that is not a rotation.
    """
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*" + PAR_SUFFIX))
        if len(found) != 1:
            raise FileNotFoundError(f"expected exactly one *{PAR_SUFFIX} in {path}, found {[p.name for p in found]}")
        path = found[0]
    lines = numbered_lines(path)
    if not lines:
        raise ValueError(f"{path}: empty camera file")
    count_line, count_text = lines[0]
    count = parse_int(count_text, f"{path}, line {count_line}", "number of images N", minimum=1)
    if len(lines) - 1 != count:
        raise ValueError(f"{path}: line {count_line} announces {count} images but {len(lines) - 1} lines follow")
    views = []
    for number, text in lines[1:]:
        where, tokens = f"{path}, line {number}", text.split()
        if len(tokens) != 22:
            raise ValueError(
                f"{where}: expected 'imgname k11..k33 r11..r33 t1 t2 t3' (1 name + 21 numbers), "
                f"got {len(tokens)} fields"
            )
        values = parse_numbers(tokens[1:], 21, where, "camera parameters")
        K = check_intrinsics(values[:9].reshape(3, 3), where)
        T_cw = check_pose(np.column_stack([values[9:18].reshape(3, 3), values[18:]]), where)
        views.append(CalibratedView(tokens[0], require_image(path.parent / tokens[0], where), K, T_cw))
    return CameraSet(path.parent, tuple(views))
