"""The transfer settings: penultimate features (``features``), the logistic-regression probe (``probe``),
fine-tuning and training from random initialisation (``finetune``), and the training arms' hyper-parameter
search (``search``, free of torch)."""
