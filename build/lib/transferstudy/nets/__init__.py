"""Networks: the embedded zoo's architectures, loading any pretrained network split at its penultimate layer,
batched forward passes, and the zoo record of a downloaded network."""
