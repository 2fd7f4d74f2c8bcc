"""recon-predict: reconstruct user inputs with a checkpoint or a non-learned model."""
