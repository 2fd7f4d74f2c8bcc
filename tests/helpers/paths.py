"""Where the repository and its small real data (``data/``, described in ``data/README.md``) lie."""

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
MESH_DIR = DATA / "meshes"
DINO = DATA / "dinoSparseRing"
# README.txt of dinoSparseRing: the dino's tight bounding box
DINO_BOX = np.array([[-0.061897, -0.018874, -0.057845], [0.010897, 0.068227, 0.015495]])
