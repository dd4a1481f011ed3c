"""A study configuration planned into what the workflow runs, free of torch, torchvision, matplotlib and
statsmodels (the workflow builds its DAG in well under a second).

``plan.Study`` composes typed sections, each made from the configuration and the sections before it, and each
checking itself when made, naming the key, the value and what would be valid:

- ``datasets.StudyDatasets``: the target datasets (registered or declared) and the source models are pretrained on;
- ``zoo.StudyZoo``: the models (checked against their source), their pretraining recipes and the regularisation
  ablation's variants (``zoo.StudyAblation``);
- ``arms.StudyArms``: the enabled training arms, their grids, exact grid points and successive halving's rungs;
- ``subsets.StudySubsets``: the training-set-size curves' subsets.

``cost.CostPlan`` prices a planned study before it runs: each job's FLOPs, bytes written, peak memory and time,
and the memory and minutes each job requests.

What only torchvision or timm know (their model and weights names, which of a family's layers take the
switches) is checked by the workflow's first job (``nets.zoo.check_spec``).
"""
