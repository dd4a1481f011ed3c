"""transferstudy: do better ImageNet models transfer better? (Kornblith, Shlens & Le, CVPR 2019).

The library knows nothing of Snakemake; the workflow is a thin layer over it. Dependencies point one way,
from data to analysis, and no module imports one of a later layer:

    shared  ->  data  ->  nets  ->  train  ->  transfer  ->  analysis  ->  study  ->  cli

- shared (top-level modules, no torch): ``io`` (atomic files, the HDF5 split-file format), ``provenance``
  (versions, hashes), ``logs``, ``errors`` (bad input, the one
  error the command line reports as a line), ``metrics`` (the paper's metrics), ``settings`` (the names of the transfer
  settings), ``results`` (what every transfer result holds, by one set of names), ``switches`` (the
  pretraining regularisation switches), ``config`` (every settings group as a
  typed object: keys, defaults, ranges), ``schema`` (the workflow's configuration schema, generated from the
  groups, and validation against it), ``functions`` (functions of one's own named as ``file.py:function``:
  network builders, transferability scores);
- ``data``: datasets, their split files, subsets and images (its docstring lists its modules);
- ``nets``: networks: where each comes from (``nets.sources``), architectures, loading, inference, the zoo;
- ``train``: the one training step loop, the batch streams, pretraining on the source dataset;
- ``transfer``: the transfer settings' computations: features, the probe, fine-tuning and scratch, the grid
  search, transferability estimators;
- ``analysis``: the accuracy table, statistics, convergence, the ablation, the estimators' evaluation,
  training-set-size curves, the figure catalogue and the figures;
- ``study``: a configuration planned into models, datasets, settings and figures, without torch (what the
  workflow's DAG is built from);
- ``cli``: the command line, every stage as a command (``python -m transferstudy``, ``__main__``).

Each package's docstring names its modules (a test holds them to each other).

Every stage is also a command: ``python -m transferstudy <stage> ...`` (or ``transferstudy <stage>``), all of
them in ``cli``.
"""

__version__ = "0.1.0"
