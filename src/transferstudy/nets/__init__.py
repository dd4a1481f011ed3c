"""Networks: the embedded zoo's architectures, loading any pretrained network split at its penultimate layer
(torchvision, timm, pretrainedmodels, a builder of one's own), weights files with foreign names, batched forward
passes, and the zoo record of a network not pretrained here."""
