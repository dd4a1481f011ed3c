"""The transfer settings: penultimate features (``features``), the logistic-regression probe's protocol
(``probe``) and its solver (``logistic``), fine-tuning and training from random initialisation (``finetune``),
the training arms' hyper-parameter search (``search``, free of torch), and transferability estimators scored
from features (``transferability``)."""
