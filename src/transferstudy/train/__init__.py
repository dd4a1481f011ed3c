"""Training: the one step loop, optimiser, schedule and resumable state (``loop``), the training batch streams and
their augmentation (``batches``), and pretraining on the source dataset (``pretrain``)."""
