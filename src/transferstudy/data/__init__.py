"""Datasets: the registry and split files, the paper's datasets in their official layouts, datasets of one's own
declared in the config, generated datasets, seeded hold-out splits, and images with their evaluation
preprocessing."""
