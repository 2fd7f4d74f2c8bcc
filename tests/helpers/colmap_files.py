"""Toy COLMAP text models: four cameras of four models, posed images, an undistorted workspace."""

import numpy as np
import torch
from PIL import Image
from scipy.spatial.transform import Rotation

from recon.geometry.cameras import look_at

H, W = 12, 16
# (CAMERA_ID, COLMAP model line params, recon K of that camera: COLMAP cx, cy minus 0.5)
CAMERAS = {
    1: ("PINHOLE", [20.5, 21.0, 8.25, 6.0], [[20.5, 0, 7.75], [0, 21.0, 5.5], [0, 0, 1]]),
    2: ("SIMPLE_PINHOLE", [19.0, 8.0, 6.0], [[19.0, 0, 7.5], [0, 19.0, 5.5], [0, 0, 1]]),
    3: ("SIMPLE_RADIAL", [18.0, 8.5, 6.5, 0.0], [[18.0, 0, 8.0], [0, 18.0, 6.0], [0, 0, 1]]),
    4: ("RADIAL", [22.0, 7.5, 5.5, 0.0, 0.0], [[22.0, 0, 7.0], [0, 22.0, 5.0], [0, 0, 1]]),
}
CAMERAS_HEADER = "# Camera list with one line of data per camera:\n#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n"
IMAGES_HEADER = (
    "# Image list with two lines of data per image:\n"
    "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n#   POINTS2D[] as (X, Y, POINT3D_ID)\n"
)


def make_poses(n: int = 4) -> np.ndarray:
    angles = torch.linspace(0.3, 2.5, n, dtype=torch.float64)
    eyes = torch.stack([4 * torch.cos(angles), 4 * torch.sin(angles), 0.5 + angles], -1)
    return look_at(
        eyes, torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64), torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    ).numpy()


def colmap_quaternion(R) -> list[float]:
    x, y, z, w = Rotation.from_matrix(R).as_quat()  # scipy: scalar LAST
    return [w, x, y, z]


def image_line(image_id, T_cw, camera_id, name, q=None) -> str:
    q = colmap_quaternion(T_cw[:3, :3]) if q is None else q
    return " ".join(map(repr, [image_id, *map(float, q), *map(float, T_cw[:3, 3]), camera_id])) + f" {name}"


def write_model(root, poses, camera_lines=None, extra_image_lines=()):
    """Workspace layout of `colmap image_undistorter`: root/sparse/*.txt, root/images/*. Images i -> camera i+1,
    written in reverse IMAGE_ID order; the second image has no 2D points (an empty line)."""
    (root / "sparse").mkdir(parents=True)
    (root / "images").mkdir()
    if camera_lines is None:
        camera_lines = [
            f"{cid} {model} {W} {H} {' '.join(map(repr, params))}" for cid, (model, params, _) in CAMERAS.items()
        ]
    (root / "sparse" / "cameras.txt").write_text(CAMERAS_HEADER + "\n".join(camera_lines) + "\n")
    records = []
    for i, T_cw in enumerate(poses):
        name = f"view_{i}.png"
        Image.fromarray(np.full((H, W, 3), 40 * i, np.uint8)).save(root / "images" / name)
        points = "" if i == 1 else "2362.39 248.498 58396 1784.7 268.254 -1"
        records.append(image_line(10 * (i + 1), T_cw, i % len(CAMERAS) + 1, name) + "\n" + points)
    text = IMAGES_HEADER + "# Number of images: 4\n" + "\n".join(records[::-1] + list(extra_image_lines)) + "\n"
    (root / "sparse" / "images.txt").write_text(text)
    (root / "sparse" / "points3D.txt").write_text("# ignored\n63390 1.67 0.29 0.60 115 121 122 1.33 16 6542\n")
