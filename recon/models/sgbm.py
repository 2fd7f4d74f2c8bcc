"""Non-learned stereo model and the stereo task's reference: OpenCV's semi-global block matching. The matcher is a
shared block (:mod:`recon.models.blocks.sgbm`, also the first stage of ``model=sgbm_refined``)."""

from recon.models.blocks.sgbm import MODES, sgbm_band
from recon.models.blocks.sgbm import SGBMStereo as _SGBMStereo

__all__ = ["MODES", "SGBMStereo", "sgbm_band"]


class SGBMStereo(_SGBMStereo):
    __doc__ = _SGBMStereo.__doc__
