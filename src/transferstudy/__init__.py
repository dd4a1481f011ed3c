"""transferstudy: do better ImageNet models transfer better? (Kornblith, Shlens & Le, CVPR 2019).

The library knows nothing of Snakemake; the workflow is a thin layer over it. Dependencies point one way,
from data to analysis, and no module imports one of a later layer:

    shared  ->  data  ->  nets  ->  train  ->  transfer  ->  analysis  ->  study

- shared (top-level modules, no torch): ``io`` (atomic files, the HDF5 split-file format), ``provenance``
  (versions, hashes), ``logs``, ``metrics`` (the paper's metrics), ``settings`` (the names of the transfer
  settings), ``switches`` (the pretraining regularisation switches), ``config`` (every settings group as a
  typed object: keys, defaults, ranges);
- ``data``: dataset registry and split files (``datasets``), the paper's datasets in their official layouts
  (``official``), datasets of one's own declared in the config (``declared``), the generated ones
  (``synthetic``), seeded hold-outs (``splits``), images and their evaluation preprocessing (``images``);
- ``nets``: architectures of the embedded zoo (``architectures``), what is known of a network without torch
  (``catalogue``), loading any pretrained network split at its penultimate layer (``pretrained``), weights
  files with foreign parameter names and the hash of loaded weights (``weights``), batched forward passes
  (``inference``), a zoo record and measured top-1 of a network not pretrained here (``zoo``);
- ``train``: the one training step loop, optimiser, schedule and resumable state (``loop``), the training batch
  streams and their augmentation (``batches``), pretraining on the source dataset (``pretrain``);
- ``transfer``: the three transfer settings' computations: penultimate features (``features``), the logistic
  regression probe (``probe``), fine-tuning and training from scratch (``finetune``);
- ``analysis``: the accuracy table (``aggregate``), statistics (``stats``), convergence (``convergence``),
  the regularisation ablation (``ablation``), the figure catalogue (``catalogue``, no matplotlib) and the
  figures (``figures``), every table of one accuracy table (``tables``);
- ``study``: a configuration planned into models, datasets, settings and figures, without torch (what the
  workflow's DAG is built from).

Every stage is also a command: ``python -m transferstudy <stage> ...`` (or ``transferstudy <stage>``).
"""

__version__ = "0.1.0"
