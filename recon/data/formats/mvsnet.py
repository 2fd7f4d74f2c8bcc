"""MVSNet / DTU scene layout (MVSNet's preprocessed DTU test scans, BlendedMVS, Tanks and Temples), read into a
:class:`~recon.data.formats.multiview_base.CameraSet`.

Supported layout of one scene folder (folder names are arguments of :func:`read_mvsnet`)::

    cams/{id:08d}_cam.txt     one per view; every such file is a view, in id order
    images/{id:08d}.jpg|.png  the view's image (.jpg preferred)
    pair.txt                  optional view selection (also looked for as cams/pair.txt, BlendedMVS' place)
    depths/{id:08d}.pfm       optional z-depth PFM per view (BlendedMVS: depth_dir="rendered_depth_maps")

A camera file (blank lines ignored)::

    extrinsic
    r11 r12 r13 t1            4x4 world-to-camera [R t; 0 0 0 1], OpenCV axes (the convention recon uses)
    ... (4 rows)
    intrinsic
    fx s cx                   3x3 K in pixels of the image it was made for (MVSNet's DTU *training* cams
    ... (3 rows)              are for the 1/4-size depth maps), integer pixel centres as recon's
    depth_min depth_interval [num_depth [depth_max]]     optional; scene units (DTU: mm)

Depth range convention: the depth hypotheses are ``depth_min + i * depth_interval``, ``i = 0 .. num_depth-1``
(MVSNet's ``model.py``: ``depth_end = depth_start + (depth_num - 1) * depth_interval``), so
``near = depth_min`` and ``far = depth_max`` when given, else ``depth_min + depth_interval * (num_depth - 1)``
with ``num_depth`` 192 when absent (MVSNet's default ``max_d``). Note MVSNet's ``preprocess.load_cam`` sets
``depth_max = depth_min + depth_interval * num_depth`` (one interval further) and ``write_cam`` saves that value.

``pair.txt``: first line the number of reference views N, then per reference view a line with its id and a
line ``num_src id score id score ...`` (best first). Ids are view ids; ``CameraSet.neighbours`` holds view
INDICES into ``CameraSet.views`` (equal to the ids when these run 0..N-1).
"""

import re
from pathlib import Path

import numpy as np

from recon.data.formats.multiview_base import (
    CalibratedView,
    CameraSet,
    check_depth_range,
    check_intrinsics,
    check_pose,
    numbered_lines,
    parse_int,
    parse_numbers,
)

CAM_FILE = re.compile(r"(\d{8})_cam\.txt")
IMAGE_EXTENSIONS = (".jpg", ".png")
DEFAULT_NUM_DEPTH = 192


def read_mvsnet_cam(
    path: str | Path, num_depth: int = DEFAULT_NUM_DEPTH
) -> tuple[np.ndarray, np.ndarray, tuple[float, float] | None]:
    """Parse one MVSNet camera file (layout in the module docstring).

    Returns:
        ``(K (3, 3), T_cw (4, 4), depth_range or None)``, float64.
    Raises:
        FileNotFoundError; ValueError naming the file and line for a malformed line, a non-rotation pose, bad
        intrinsics or a depth range that is not ``0 < near < far``.
    """
    path = Path(path)
    lines = numbered_lines(path)

    def line(index: int, what: str) -> tuple[list[str], str]:
        if index >= len(lines):
            raise ValueError(f"{path}: truncated camera file: {what} missing after line {lines[-1][0] if lines else 0}")
        number, text = lines[index]
        return text.split(), f"{path}, line {number}"

    def block(start: int, rows: int, cols: int, name: str) -> np.ndarray:
        tokens, where = line(start, f"'{name}' header")
        if tokens != [name]:
            raise ValueError(f"{where}: expected '{name}', got {' '.join(tokens)[:60]!r}")
        matrix = []
        for row in range(1, rows + 1):
            tokens, where = line(start + row, f"{name} row {row}")
            matrix.append(parse_numbers(tokens, cols, where, f"{name} row {row}"))
        return np.stack(matrix)

    T_cw = check_pose(block(0, 4, 4, "extrinsic"), f"{path}, line {lines[0][0]}")
    K = check_intrinsics(block(5, 3, 3, "intrinsic"), f"{path}, line {lines[5][0]}")
    depth_range = None
    if len(lines) > 9:
        tokens, where = line(9, "depth line")
        if not 2 <= len(tokens) <= 4:
            raise ValueError(
                f"{where}: expected 'depth_min depth_interval [num_depth [depth_max]]', got {' '.join(tokens)[:60]!r}"
            )
        values = parse_numbers(tokens, len(tokens), where, "depth line")
        near, interval = values[:2]
        count = values[2] if len(values) > 2 else num_depth
        if not (interval > 0 and count == int(count) and count >= 2):
            raise ValueError(
                f"{where}: need depth_interval > 0 and an integer num_depth >= 2, got {interval} and {count}"
            )
        far = values[3] if len(values) > 3 else near + interval * (count - 1)
        depth_range = check_depth_range(near, far, where)
    if len(lines) > 10:
        raise ValueError(f"{path}, line {lines[10][0]}: unexpected content after the depth line")
    return K, T_cw, depth_range


def read_mvsnet_pairs(path: str | Path, index_of: dict[int, int]) -> dict[int, tuple[tuple[int, float], ...]]:
    """Parse ``pair.txt`` into ``{reference index: ((source index, score), ...)}``; ``index_of`` maps view
    ids to view indices. ValueError naming the file and line for a malformed line, a count that does not
    match, a repeated reference or an id without a camera."""
    path = Path(path)
    lines = numbered_lines(path)
    if not lines:
        raise ValueError(f"{path}: empty view-selection file")

    def index(token: str, where: str, what: str) -> int:
        view = parse_int(token, where, what)
        if view not in index_of:
            raise ValueError(f"{where}: {what} {view} has no camera file")
        return index_of[view]

    count_line, count_text = lines[0]
    count = parse_int(count_text, f"{path}, line {count_line}", "number of views", minimum=1)
    if len(lines) != 1 + 2 * count:
        raise ValueError(
            f"{path}: line {count_line} announces {count} views (2 lines each) but "
            f"{len(lines) - 1} non-blank lines follow"
        )
    neighbours: dict[int, tuple[tuple[int, float], ...]] = {}
    for (ref_line, ref_text), (src_line, src_text) in zip(lines[1::2], lines[2::2]):
        ref_where, src_where = f"{path}, line {ref_line}", f"{path}, line {src_line}"
        ref = index(ref_text, ref_where, "reference view")
        if ref in neighbours:
            raise ValueError(f"{ref_where}: reference view {ref_text} listed twice")
        tokens = src_text.split()
        num_src = parse_int(tokens[0], src_where, "number of source views")
        if len(tokens) != 1 + 2 * num_src:
            raise ValueError(
                f"{src_where}: {num_src} source views need {2 * num_src} values 'id score ...', got {len(tokens) - 1}"
            )
        scores = parse_numbers(tokens[2::2], num_src, src_where, "source view scores")
        neighbours[ref] = tuple((index(t, src_where, "source view"), float(s)) for t, s in zip(tokens[1::2], scores))
    return neighbours


def read_mvsnet(
    root: str | Path,
    *,
    image_dir: str = "images",
    cam_dir: str = "cams",
    depth_dir: str = "depths",
    pair_file: str | None = None,
    num_depth: int = DEFAULT_NUM_DEPTH,
) -> CameraSet:
    """Read an MVSNet-layout scene folder (see the module docstring).

    Args:
        root: the scene folder.
        image_dir, cam_dir, depth_dir: sub-folders of ``root`` (BlendedMVS: ``"blended_images"``, ``"cams"``,
            ``"rendered_depth_maps"``). A view's depth map is used when ``{depth_dir}/{id:08d}.pfm`` exists.
        pair_file: view-selection file relative to ``root``; default ``pair.txt``, else ``{cam_dir}/pair.txt``,
            else none (``neighbours`` is None).
        num_depth: number of depth hypotheses for camera files whose depth line has none.

    Returns:
        A :class:`CameraSet` with ids ``"%08d"``, in id order.
    Raises:
        FileNotFoundError: no camera files, a missing image (naming the camera file) or a missing ``pair_file``.
        ValueError: naming the file and line, as :func:`read_mvsnet_cam` and :func:`read_mvsnet_pairs`.
    """
    root = Path(root)
    cam_folder = root / cam_dir
    cams = sorted(
        (int(m.group(1)), path)
        for path in (cam_folder.iterdir() if cam_folder.is_dir() else ())
        if (m := CAM_FILE.fullmatch(path.name))
    )
    if not cams:
        raise FileNotFoundError(f"no MVSNet camera files ({{id:08d}}_cam.txt) in {cam_folder}")
    views = []
    for number, cam_path in cams:
        K, T_cw, depth_range = read_mvsnet_cam(cam_path, num_depth)
        view_id = f"{number:08d}"
        candidates = [root / image_dir / (view_id + ext) for ext in IMAGE_EXTENSIONS]
        image = next((path for path in candidates if path.is_file()), None)
        if image is None:
            raise FileNotFoundError(
                f"{cam_path}: image of this camera does not exist (looked for {' and '.join(map(str, candidates))})"
            )
        depth = root / depth_dir / f"{view_id}.pfm"
        views.append(CalibratedView(view_id, image, K, T_cw, depth_range, depth if depth.is_file() else None))
    if pair_file is None:
        pair = next((p for p in (root / "pair.txt", cam_folder / "pair.txt") if p.is_file()), None)
    else:
        pair = root / pair_file
        if not pair.is_file():
            raise FileNotFoundError(f"view-selection file not found: {pair}")
    index_of = {number: index for index, (number, _) in enumerate(cams)}
    return CameraSet(root, tuple(views), None if pair is None else read_mvsnet_pairs(pair, index_of))
