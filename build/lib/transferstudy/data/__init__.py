"""Datasets: the registry and split files, the paper's datasets in their official layouts, generated datasets,
and images with their evaluation preprocessing."""
