"""Synthetic 3D scenes rendered on the CPU (open3d ray casting): recon's built-in data.

Use :func:`load_or_generate` with a :class:`SyntheticConfig`; see :mod:`.generator` for the
arrays and :mod:`.scene` for the world/camera conventions (world z up, OpenCV cameras).
"""

from .config import GENERATOR_VERSION, SyntheticConfig, config_hash
from .generator import generate_scene, generate_split, load_or_generate

__all__ = ["GENERATOR_VERSION", "SyntheticConfig", "config_hash", "generate_scene", "generate_split",
           "load_or_generate"]
