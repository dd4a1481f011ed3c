"""Datasets: the registry and split files (``datasets``), the paper's datasets in their official layouts
(``official``), datasets of one's own declared in the config (``declared``), the generated ones (``synthetic``),
seeded hold-out splits (``splits``), subsets of k examples per class (``subsets``), images and their evaluation
preprocessing (``images``), and how a network wants its images (``preprocessing``: ``PretrainedCfg``)."""
