"""What the workflow knows of networks without importing torch: the embedded zoo's architecture names, the
penultimate layer of each torchvision family, the families built with auxiliary classifiers, timm's published
ImageNet top-1 of its pretrained weights, the ``pretrainedmodels`` ports, and how a ``python`` spec names its
builder.

Planning a study (``transferstudy.study``) checks model names against this; ``nets.architectures`` registers
exactly these architectures (it refuses any other), and a test holds the two to each other. What only torchvision
or timm know (their model and weights names, which families take dropout) is checked by the workflow's first
job, ``check_models`` (``nets.zoo.check_spec``).
"""

import csv
import functools
from pathlib import Path

# timm's published ImageNet-1k validation results: its results/results-imagenet.csv (pytorch-image-models,
# commit 4e5207c of 2025-10-30), the columns model (``name.tag``), img_size, crop_pct, top1 (percent).
TIMM_TOP1_FILE = Path(__file__).with_name("timm_imagenet_top1.csv")
TIMM_TOP1_SOURCE = "timm's published results (results-imagenet.csv, pytorch-image-models 4e5207c)"

# The embedded zoo: small networks of the paper's families (``nets.architectures``).
ARCHITECTURES = ("mini_convnet", "mini_densenet", "mini_inception", "mini_mobilenetv2", "mini_resnet14",
                 "mini_resnet8", "mini_vgg")

# torchvision family (model-name prefix) -> the module path of its final classifier layer: the penultimate
# layer is its input.
TORCHVISION_HEADS = {
    "alexnet": "classifier.6",
    "convnext": "classifier.2",
    "densenet": "classifier",
    "efficientnet": "classifier.1",
    "googlenet": "fc",
    "inception_v3": "fc",
    "maxvit": "classifier.5",
    "mnasnet": "classifier.1",
    "mobilenet_v2": "classifier.1",
    "mobilenet_v3": "classifier.3",
    "regnet": "fc",
    "resnet": "fc",
    "resnext": "fc",
    "shufflenet": "fc",
    "swin": "head",
    "vgg": "classifier.6",
    "vit": "heads.head",
    "wide_resnet": "fc",
}

# torchvision families built with auxiliary classifiers (``aux_logits``).
TORCHVISION_AUX = ("googlenet", "inception_v3")


def torchvision_head(name):
    """The classifier's module path for a torchvision model name (longest matching family prefix)."""
    families = sorted((f for f in TORCHVISION_HEADS if name.startswith(f)), key=len, reverse=True)
    if not families:
        raise ValueError(f"torchvision model {name!r}: no known penultimate layer for its family; supported "
                         f"families: {', '.join(sorted(TORCHVISION_HEADS))}")
    return TORCHVISION_HEADS[families[0]]


# Cadene's ``pretrainedmodels`` ports the paper needs and torchvision and timm lack: name -> (classifier module
# path, weights file name in $TORCH_HOME/hub/checkpoints, top-1 the package's README publishes for the port).
PRETRAINEDMODELS = {
    "bninception": ("last_linear", "bn_inception-52deb4733.pth", 0.73524),
    "nasnetamobile": ("last_linear", "nasnetamobile-7e03cead.pth", 0.74080),
}
PRETRAINEDMODELS_TOP1_SOURCE = "the top-1 pretrainedmodels 0.7.4 publishes for its port (README)"

# Where a model spec (the config's ``models.<name>``) comes from: exactly one of these keys.
SOURCES = ("arch", "torchvision", "timm", "pretrainedmodels", "python")


def spec_source(spec):
    """Which of ``SOURCES`` a model spec names (exactly one)."""
    named = [key for key in SOURCES if key in spec]
    if len(named) != 1:
        raise ValueError(f"a model spec names exactly one of {SOURCES}; got {sorted(spec)}")
    return named[0]


def architecture(spec):
    """The architecture a model spec builds: ``arch``, the torchvision or pretrainedmodels name, the timm name
    without its tag, or the builder function of a ``python`` model."""
    if "timm" in spec:
        return spec["timm"].split(".")[0]
    return spec.get("arch") or spec.get("torchvision") or spec.get("pretrainedmodels") or spec["python"]


def python_reference(text):
    """(module file or module name, function name) of a ``python`` spec: ``path/to/file.py:function`` (a file
    relative to the working directory) or ``package.module:function``; ValueError naming what is wrong."""
    module, colon, function = str(text).rpartition(":")
    if not colon or not module or not function.isidentifier():
        raise ValueError(f"python = {text!r}: give 'path/to/file.py:function' or 'package.module:function'")
    if module.endswith(".py"):
        path = Path(module)
        if not path.is_file():
            raise ValueError(f"python = {text!r}: file {path} ({path.resolve()}) not found (relative paths are "
                             "relative to the working directory)")
        return path, function
    if not all(part.isidentifier() for part in module.split(".")):
        raise ValueError(f"python = {text!r}: {module!r} is neither a .py file nor a module name")
    return module, function


@functools.cache
def _timm_top1_rows():
    with open(TIMM_TOP1_FILE, newline="") as f:
        return {(row["model"], int(row["img_size"]), float(row["crop_pct"])): float(row["top1"]) / 100
                for row in csv.DictReader(f)}


def timm_published_top1(name, img_size, crop_pct):
    """timm's published ImageNet top-1 (a fraction) of pretrained weights ``name`` (``model.tag``) evaluated at
    ``img_size`` with ``crop_pct``, the preprocessing the study feeds them with; None where timm published no
    result at exactly that preprocessing (a number measured otherwise would not be this network's)."""
    return _timm_top1_rows().get((name, int(img_size), round(float(crop_pct), 3)))

