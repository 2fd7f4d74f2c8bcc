"""Every Lightning and Hydra callback of recon, one per module."""
