"""Where a network comes from: one module per source, each implementing the same interface (``base.Source``),
and one registry (``registry``) that every caller asks.

A model spec (the config's ``models.<name>``) names its source by exactly one key:

| key | module | the network |
|---|---|---|
| ``arch`` | ``embedded`` | pretrained by the workflow itself (the embedded zoo, or a torchvision architecture) |
| ``torchvision`` | ``torchvision`` | torchvision's weights (``weights``: the enum member) |
| ``timm`` | ``timm`` | timm's pretrained weights (``name.tag``), or a local ``weights_file`` |
| ``pretrainedmodels`` | ``pretrainedmodels`` | Cadene's ports the paper needs (BN-Inception, NASNet-A Mobile) |
| ``python`` | ``python`` | a function of one's own returning ``(model, cfg)`` |

Each source (a ``Source``) answers, for a spec:

- ``check(spec)``: while planning, free of torch: what can be checked of its names and files;
- ``architecture(spec)``: the architecture it builds (training from scratch runs once per architecture);
- ``files(spec)``: the files of one's own it is made from, so that changing one re-runs its jobs;
- ``publishes_top1``: whether the source knows a network's ImageNet top-1 without being told;
- ``check_loadable(spec, recipe)``: in the workflow's first job, what only the libraries and this machine know
  (model and weights names, the weights file it needs); returns what was checked;
- ``load(spec)``: the network split at its penultimate layer (a ``nets.network.Pretrained``).

Importing a source module imports no torch (the workflow plans with them); each imports torch and its library
inside the functions that load.
"""
