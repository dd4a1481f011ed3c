"""Training: the one step loop, optimiser, schedule and resumable state (``loop``), the training batch streams and
their augmentation (``batches``), pretraining on the source dataset (``pretrain``), and timing networks'
forward passes and training steps on this machine for the cost plan (``calibrate``)."""
