"""recon-compare: summaries of many runs -> a study -> tables and plots."""
