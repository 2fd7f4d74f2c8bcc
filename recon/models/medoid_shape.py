"""Non-learned single-view reference: the medoid training shape, placed at the object's centre."""

import torch
from torch import nn

from recon.geometry.pointcloud import chamfer_distances


class MedoidShape(nn.Module):
    """Predicts the same shape for every image: the training shape (centred on its object centre) with the
    lowest mean Chamfer-L1 to the other training shapes, translated to the test object's centre.

    The centre is an oracle input (``center`` (B, 3), camera frame), so this reference knows where the object
    is and only has to guess its shape and orientation — a learned model's margin over it is shape knowledge.
    Call :meth:`fit` with training clouds before use; it has no trainable parameters.
    """

    problem = "single_view"
    inputs = ("center",)
    trainable = False

    def __init__(
        self, num_points: int = 2048, num_candidates: int = 128, num_references: int = 128, score_points: int = 256
    ):
        super().__init__()
        self.num_points, self.score_points = num_points, score_points
        self.num_candidates, self.num_references = num_candidates, num_references
        self.register_buffer("template", torch.zeros(num_points, 3))
        self.register_buffer("fitted", torch.tensor(False))

    @torch.no_grad()
    def fit(self, points: torch.Tensor, centers: torch.Tensor, seed: int = 0) -> "MedoidShape":
        """``points`` (S, P, 3) training clouds and ``centers`` (S, 3) their object centres, same frame.

        The medoid is searched among ``num_candidates`` random shapes, scored against ``num_references`` others,
        each subsampled to ``score_points`` points (exact Chamfer on the subsamples).
        """
        g = torch.Generator().manual_seed(seed)
        S, P, _ = points.shape
        centred = points.float() - centers.float()[:, None, :]
        sub = centred[:, torch.randperm(P, generator=g)[: self.score_points]]
        candidates = torch.randperm(S, generator=g)[: self.num_candidates]
        references = sub[torch.randperm(S, generator=g)[: self.num_references]]
        scores = torch.stack(
            [
                chamfer_distances(sub[c].expand(len(references), -1, -1).contiguous(), references)["chamfer_l1"].mean()
                for c in candidates
            ]
        )
        best = centred[candidates[scores.argmin()]]
        pick = (
            torch.randperm(P, generator=g)[: self.num_points]
            if self.num_points <= P
            else torch.randint(P, (self.num_points,), generator=g)
        )
        self.template.copy_(best[pick])
        self.fitted.fill_(True)
        return self

    def forward(self, center: torch.Tensor) -> dict[str, torch.Tensor]:
        if not bool(self.fitted):
            raise RuntimeError("MedoidShape.fit(...) must be called with training clouds before prediction")
        return {"points": self.template.unsqueeze(0) + center[:, None, :]}
