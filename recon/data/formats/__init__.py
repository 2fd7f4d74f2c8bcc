"""Readers/writers for real dataset layouts.

Stereo (items of the contract in :mod:`recon.data.formats.base`): PFM files (:mod:`.pfm`), Middlebury 2014
(:mod:`.middlebury2014`, incl. scikit-image's Motorcycle pair), Middlebury 2001-2006 (:mod:`.middlebury_classic`),
KITTI 2012/2015 (:mod:`.kitti`), SceneFlow (:mod:`.sceneflow`) and plain folders of pairs (:mod:`.folder_pairs`).
"""

from recon.data.formats.base import STEREO_KEYS, StereoPairDataset, StereoSample, check_stereo_item
from recon.data.formats.colmap_text import read_colmap_text
from recon.data.formats.folder_pairs import FolderPairsStereo
from recon.data.formats.kitti import KittiStereo
from recon.data.formats.middlebury2014 import Middlebury2014Calib, Middlebury2014Stereo, motorcycle_pair
from recon.data.formats.middlebury_classic import MiddleburyClassicStereo
from recon.data.formats.middlebury_mvs import read_middlebury_mvs
from recon.data.formats.multiview_base import CalibratedView, CameraSet
from recon.data.formats.mvsnet import read_mvsnet
from recon.data.formats.pfm import read_pfm, write_pfm
from recon.data.formats.sceneflow import SceneFlowStereo

__all__ = [
    "STEREO_KEYS",
    "CalibratedView",
    "CameraSet",
    "FolderPairsStereo",
    "KittiStereo",
    "Middlebury2014Calib",
    "Middlebury2014Stereo",
    "MiddleburyClassicStereo",
    "SceneFlowStereo",
    "StereoPairDataset",
    "StereoSample",
    "check_stereo_item",
    "motorcycle_pair",
    "read_colmap_text",
    "read_middlebury_mvs",
    "read_mvsnet",
    "read_pfm",
    "write_pfm",
]
