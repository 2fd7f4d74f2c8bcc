"""A folder of images without poses, read into a :class:`~recon.data.formats.multiview_base.CameraSet` whose poses
are unknown (``T_cw`` all NaN) for ``data.poses=estimated`` (:mod:`recon.data.estimated_poses`).

The images are the folder's ``*.png``, ``*.jpg``, ``*.jpeg`` files (any case), sorted by name; view ids are the file
names. Intrinsics: ``intrinsics=[fx, fy, cx, cy]`` (pixels, one camera for every image), else per image the EXIF
focal length or a guess from ``fov_deg`` across the longer side
(:func:`~recon.data.formats.images.image_intrinsics_guess`).
"""

from pathlib import Path

import numpy as np

from recon.data.formats.images import image_intrinsics_guess, image_size
from recon.data.formats.multiview_base import CalibratedView, CameraSet, check_intrinsics

SUFFIXES = (".png", ".jpg", ".jpeg")


def read_image_folder(path: str | Path, intrinsics: list[float] | None = None, fov_deg: float = 60.0) -> CameraSet:
    """The images of folder ``path`` with their intrinsics and unknown poses (module docstring).

    Raises:
        FileNotFoundError: ``path`` is not a folder, or holds fewer than two images.
        ValueError: ``intrinsics`` that are not four finite numbers with positive focal lengths, or ``fov_deg``
            outside (0, 180) (naming ``data.options``).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a folder of images")
    images = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    if len(images) < 2:
        raise FileNotFoundError(f"{path} holds {len(images)} image(s) (*.png, *.jpg, *.jpeg): two or more are needed")
    if not (isinstance(fov_deg, (int, float)) and 0 < fov_deg < 180):
        raise ValueError(f"data.options.fov_deg must be in (0, 180) degrees, got {fov_deg!r}")
    if intrinsics is not None:
        values = list(intrinsics)
        if len(values) != 4 or not all(isinstance(v, (int, float)) for v in values):
            raise ValueError(f"data.options.intrinsics must be [fx, fy, cx, cy] in pixels, got {intrinsics}")
        fx, fy, cx, cy = values
        K = check_intrinsics([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], "data.options.intrinsics")
    unknown = np.full((4, 4), np.nan)
    views = []
    for image in images:
        H, W = image_size(image)
        K_view = (
            K if intrinsics is not None else image_intrinsics_guess(image, H, W, float(fov_deg))[0].double().numpy()
        )
        views.append(CalibratedView(image.name, image, K_view, unknown, size=(H, W)))
    return CameraSet(path, tuple(views))
