"""What a network costs, counted without weights or data: parameters, penultimate width, forward FLOPs per image
and the bytes autograd keeps per image for the backward pass, at the network's input size.

Counted on torch's meta device (no memory, no arithmetic) with torch's own FLOP counter. Training FLOPs are
taken as three forward passes (the backward pass computes the input and weight gradients, each about one
forward): torch's counter over-counts the backward pass of grouped convolutions (measured on the meta device
with torch 2.x: MobileNet v2's backward at 19x its forward, NASNet-A Large's at 10x, ResNet-50's at 2.0x).

The cost table (``network_costs.csv``, written by ``transferstudy network-costs``) holds these counts for the
networks the shipped configurations name, so that planning a study reads them without torch; the module is
free of torch until it counts.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import InputError
from ..io import atomic_path

TABLE = Path(__file__).with_name("network_costs.csv")
# The backward pass as forward passes (see above).
BACKWARD_PER_FORWARD = 2


@dataclass(frozen=True)
class NetworkCost:
    """One network's counted cost at ``input_size`` px (square, 3 channels), per image."""

    model: str  # the spec as a command names it: torchvision:resnet50, timm:nasnetalarge, arch:mini_vgg
    input_size: int
    params: int
    features: int  # the penultimate layer's width
    forward_flops: int
    saved_bytes: int  # float32 activations autograd keeps for the backward pass of one image (not the weights)

    @property
    def train_flops(self):
        return self.forward_flops * (1 + BACKWARD_PER_FORWARD)

    def at_size(self, input_size):
        """The cost at another input size, scaled with the pixel count (convolutions' cost and activations grow
        with the image area; the parameters do not)."""
        if input_size == self.input_size:
            return self
        scale = (input_size / self.input_size) ** 2
        return NetworkCost(self.model, input_size, self.params, self.features, round(self.forward_flops * scale),
                           round(self.saved_bytes * scale))


def spec_name(spec):
    """How a command and the cost table name a model spec (``torchvision:resnet50``)."""
    from .sources.registry import get_source

    source = get_source(spec)
    return f"{source.key}:{spec[source.key]}"


def read_table(path=TABLE):
    """The cost table by model name (``{name: NetworkCost}``); empty when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return {}
    types = {field.name: field.type for field in fields(NetworkCost)}
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {row["model"]: NetworkCost(**{key: value if types[key] == "str" else int(value)
                                         for key, value in row.items()}) for row in rows}


def write_table(costs, path=TABLE):
    """Write ``costs`` (NetworkCost records), sorted by name."""
    with atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[field.name for field in fields(NetworkCost)],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(asdict(cost) for cost in sorted(costs, key=lambda cost: cost.model))


def forward_flops(model, input_size):
    """Forward FLOPs of ``model`` (on the meta device or any other) for one image of ``input_size`` px, in
    evaluation mode (torch's counter: a multiply-add is 2 FLOPs); the model's training mode is left as it was."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    device = next(model.parameters()).device
    image = torch.zeros(1, 3, input_size, input_size, device=device)
    training = model.training
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model.eval()(image)
    finally:
        model.train(training)
    return int(counter.get_total_flops())


def size_record(model, input_size):
    """What a study records of a network's size (the source properties ``params`` and ``flops``, with where they
    came from): its parameters and forward FLOPs per image at ``input_size``, counted on the network itself."""
    how = f"counted by the workflow (torch.utils.flop_counter, one {input_size} px image, evaluation mode)"
    return {"params": sum(p.numel() for p in model.parameters()), "params_from": how,
            "flops": forward_flops(model, input_size), "flops_from": how}


def count_module(model, input_size, name="module"):
    """The cost of ``model`` (on the meta device or any other) for one image of ``input_size`` px: its forward
    FLOPs in evaluation mode, and the bytes autograd saves in training mode (each tensor once)."""
    import torch

    from .network import final_linear

    device = next(model.parameters()).device
    image = torch.empty(1, 3, input_size, input_size, device=device)
    flops = forward_flops(model, input_size)
    saved = {}

    def pack(tensor):
        base = tensor if tensor._base is None else tensor._base
        if not (base.is_leaf and base.requires_grad):  # the weights (and their views) are counted as parameters
            saved[id(tensor)] = (tensor, tensor.numel() * tensor.element_size())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model.train()(image)
    head = model.get_submodule(final_linear(model))
    return NetworkCost(model=name, input_size=input_size, params=sum(p.numel() for p in model.parameters()),
                       features=head.in_features, forward_flops=flops,
                       saved_bytes=sum(size for _, size in saved.values()))


def count(spec, input_size=None):
    """The cost of a model spec's network at its native input size (or ``input_size``: needed for a network the
    workflow pretrains, whose size is its source's), built on the meta device."""
    import torch

    from .sources.registry import get_source

    with torch.device("meta"):
        model, native = get_source(spec).skeleton(spec)
    size = input_size or native
    if size is None:
        raise InputError(f"{spec_name(spec)}: its input size is the study's (give input_size)")
    return count_module(model, size, spec_name(spec))
