"""The input modalities of the multi-modal models and the check of a model's choice of them."""

MODALITIES = ("image", "depth")


def check_modalities(modalities) -> tuple[str, ...]:
    """``modalities`` as a tuple; ``ValueError`` naming ``model.modalities`` unless it is a non-empty subset of
    :data:`MODALITIES` without repeats."""
    modalities = tuple(modalities)
    if not modalities or len(set(modalities)) != len(modalities) or set(modalities) - set(MODALITIES):
        raise ValueError(f"model.modalities must be a non-empty subset of {MODALITIES}, got {list(modalities)}")
    return modalities
