"""The transfer settings: penultimate features, the logistic-regression probe, fine-tuning and training from
random initialisation."""
