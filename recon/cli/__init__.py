"""Console entry points: recon-train, recon-eval, recon-predict, recon-compare, the SLURM preview."""
