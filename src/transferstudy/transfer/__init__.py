"""The transfer settings: penultimate features (``features``), the logistic-regression probe's protocol
(``probe``) and its solver (``logistic``), what a features file must hold before the probe
fits it or an estimator scores it (``checks``), fine-tuning and training from random initialisation (``finetune``),
the training arms' hyper-parameter search (``search``, free of torch), and transferability estimators scored
from features (``transferability``)."""
