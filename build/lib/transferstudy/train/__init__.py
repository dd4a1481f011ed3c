"""Training: the one step loop (optimiser, schedule, resumable state), the training batch streams, and
pretraining on the source dataset."""
