"""Networks: where each comes from (``sources``: one module per source behind one registry), the embedded zoo's
architectures (``architectures``), a pretrained network split at its penultimate layer and what its loader knows
of it (``network``), loading any of them (``pretrained``), weights files with foreign parameter names and the
hash of loaded weights (``weights``), batched forward passes (``inference``), checking model specs and the
zoo record of a network not pretrained here (``zoo``), and what a network costs, counted on the meta device
(``costs``: FLOPs, parameters, activations; the table the cost plan reads)."""
