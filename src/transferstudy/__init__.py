"""transferstudy: do better ImageNet models transfer better? (Kornblith, Shlens & Le, CVPR 2019)."""

__version__ = "0.1.0"
