"""Building blocks shared by several model families; a model file imports shared pieces from here (and from
:mod:`recon.geometry`), never from a sibling model file. A block one family uses stays in that family's file.

- :mod:`~recon.models.blocks.conv`: the norm-layer factory and the conv + norm + ReLU unit (2D and 3D).
- :mod:`~recon.models.blocks.image_encoder`: strided CNN, image -> global feature (single-view models).
- :mod:`~recon.models.blocks.cost_volume`: 3D hourglass, cost head, soft-argmin (stereo and multi-view networks).
- :mod:`~recon.models.blocks.upsampling`: upsampling aligned with stride-2 convolutions.
- :mod:`~recon.models.blocks.refinement`: convex upsampling and image-guided residual refinement (dense maps).
- :mod:`~recon.models.blocks.sgbm`: OpenCV semi-global matching as a module (model=sgbm, the stereo reference,
  the first stage of model=sgbm_refined).
- :mod:`~recon.models.blocks.modalities`: the multi-modal models' input modalities and their check.
- :mod:`~recon.models.blocks.graph`: k-NN graphs and EdgeConv (graph networks on point sets).
- :mod:`~recon.models.blocks.depth_planes`: multi-view contract, depth hypotheses, plane sweep of source views.
- :mod:`~recon.models.blocks.point_set`: size check and fully connected point-set decoder (single-view point models).
- :mod:`~recon.models.blocks.conditional_latent`: PointNet shape encoder and conditional Gaussian latent (VAEs).
"""

from recon.models.blocks.conditional_latent import (
    ConditionalLatent,
    PointNetEncoder,
    gaussian_kl,
    hybrid_latent,
    reparameterize,
)
from recon.models.blocks.conv import NORMS, conv_norm_act, norm_layer
from recon.models.blocks.cost_volume import CostHead, Hourglass, soft_argmin
from recon.models.blocks.depth_planes import SAMPLING, check_views, depth_at_index, sweep_sources
from recon.models.blocks.image_encoder import ImageEncoder
from recon.models.blocks.point_set import check_positive, point_set_decoder
from recon.models.blocks.refinement import ConvexUpsampler, DisparityRefinement, convex_upsample
from recon.models.blocks.upsampling import upsample_aligned

__all__ = [
    "NORMS",
    "SAMPLING",
    "ConditionalLatent",
    "ConvexUpsampler",
    "CostHead",
    "DisparityRefinement",
    "Hourglass",
    "ImageEncoder",
    "PointNetEncoder",
    "check_positive",
    "check_views",
    "conv_norm_act",
    "convex_upsample",
    "depth_at_index",
    "gaussian_kl",
    "hybrid_latent",
    "norm_layer",
    "point_set_decoder",
    "reparameterize",
    "soft_argmin",
    "sweep_sources",
    "upsample_aligned",
]
