"""Model registry of the embedded zoo: small networks of the paper's families, sized for a laptop CPU.

Naming and API follow timm: ``create_model(name, num_classes=...)``, ``list_models()``,
``model.forward_features(x)`` (spatial maps) and ``model.forward_head(x, pre_logits=True)`` (the
penultimate layer: globally pooled features, the input to the final classifier ``fc``).

The paper's four regularisation switches are construction options of every architecture: ``drop_rate``
(dropout before ``fc``, timm's name), ``aux_head`` (an auxiliary classifier two thirds of the way up the
body, as Inception's) and ``bn_gamma=False`` (batch norm without its scale: gamma fixed at 1, as
TensorFlow's ``scale=False``). Label smoothing, the fourth, is a loss option (``train.pretrain``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError

# torchvision families built with auxiliary classifiers (``aux_logits``).
TORCHVISION_AUX = ("googlenet", "inception_v3")

_REGISTRY = {}


def register_model(fn):
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models():
    return sorted(_REGISTRY)


def torchvision_architectures():
    """torchvision's classification architectures, which the workflow can also pretrain (at full scale)."""
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)


def create_model(name, num_classes, *, drop_rate=0.0, aux_head=False, bn_gamma=True, **kwargs):
    """An architecture of this zoo or of torchvision's (randomly initialised) with the switches applied."""
    if name in _REGISTRY:
        model = _REGISTRY[name](num_classes=num_classes, **kwargs)
        model.set_regularizers(drop_rate=drop_rate, aux_head=aux_head)
    elif name in torchvision_architectures():
        model = _torchvision_model(name, num_classes, drop_rate, aux_head)
    else:
        raise KeyError(f"unknown architecture {name!r}; valid: {', '.join(list_models())}, or a torchvision "
                       "classification model (torchvision.models.list_models(module=torchvision.models))")
    if not bn_gamma:
        remove_bn_gamma(model)
    return model


def _torchvision_model(name, num_classes, drop_rate, aux_head):
    """torchvision's architecture with the switches its family has: its own dropout before the classifier
    (``dropout``, set to ``drop_rate``: 0 removes the family's default) and its own auxiliary classifiers.
    A switch the family lacks is refused rather than bolted on."""
    import torchvision

    builder = torchvision.models.get_model_builder(name)
    options = {"weights": None, "num_classes": num_classes}
    if name.startswith(TORCHVISION_AUX):
        # Their initialisation chosen explicitly: the default is about to change, with a warning.
        options.update(aux_logits=aux_head, init_weights=True)
    elif aux_head:
        raise InputError(f"torchvision's {name} has no auxiliary classifier; families with one: "
                         f"{', '.join(TORCHVISION_AUX)}")
    try:
        return builder(dropout=drop_rate, **options)
    except TypeError as error:
        if "dropout" not in str(error):
            raise
    if drop_rate:
        raise InputError(f"torchvision's {name} has no dropout before its classifier; families with one: "
                         "inception_v3, googlenet, mobilenet, efficientnet, vgg, ...")
    return builder(**options)


def train_outputs(model, x):
    """(logits, [auxiliary logits]) of a model in training mode, this zoo's or torchvision's (whose GoogLeNet
    and Inception v3 return their auxiliary classifiers' logits beside the main ones)."""
    if hasattr(model, "forward_train"):
        logits, aux = model.forward_train(x)
        return logits, [] if aux is None else [aux]
    out = model(x)
    if isinstance(out, tuple):
        return out[0], [aux for aux in out[1:] if aux is not None]
    return out, []


def remove_bn_gamma(model):
    """Batch norm without a learned scale: every gamma fixed at 1 and left out of training."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            nn.init.ones_(module.weight)
            module.weight.requires_grad_(False)
    return model


def conv_bn(cin, cout, kernel=3, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class MiniNet(nn.Module):
    """Body (``self.body``, spatial maps with ``num_features`` channels) + global pool + linear ``fc``."""

    # Where the penultimate layer is, for the features' provenance.
    penultimate_layer = "global average pool (input to fc)"

    def __init__(self, body, num_features, num_classes):
        super().__init__()
        self.body = body
        self.num_features = num_features
        self.num_classes = num_classes
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.0)
        self.fc = nn.Linear(num_features, num_classes)
        self.aux = None

    def set_regularizers(self, drop_rate=0.0, aux_head=False):
        self.drop.p = float(drop_rate)
        self.aux = AuxHead(self._channels_at(self.aux_index), self.num_classes) if aux_head else None

    @property
    def aux_index(self):
        """The auxiliary head reads the body's output after this many of its modules (two thirds of them)."""
        return 2 * len(self.body) // 3

    def _channels_at(self, index):
        training = self.body.training
        with torch.no_grad():  # in eval mode, so the probe leaves the batch-norm statistics alone
            channels = self.body[:index].eval()(torch.zeros(1, 3, 32, 32)).shape[1]
        self.body.train(training)
        return channels

    def forward_features(self, x):
        return self.body(x)

    def forward_head(self, x, pre_logits=False):
        x = torch.flatten(self.pool(x), 1)
        return x if pre_logits else self.fc(self.drop(x))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))

    def forward_train(self, x):
        """(logits, auxiliary logits or None): the pretraining loss needs both."""
        if self.aux is None:
            return self(x), None
        middle = self.body[:self.aux_index](x)
        return self.forward_head(self.body[self.aux_index:](middle)), self.aux(middle)


class AuxHead(nn.Module):
    """Auxiliary classifier on intermediate maps (Inception's, in small): 1x1 conv, global pool, linear."""

    def __init__(self, channels, num_classes, width=64):
        super().__init__()
        self.conv = conv_bn(channels, width, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.conv(x)), 1))


@register_model
def mini_convnet(num_classes):
    """Two narrow conv stages: the weakest network of the zoo."""
    body = nn.Sequential(conv_bn(3, 16), nn.MaxPool2d(2), conv_bn(16, 32), nn.MaxPool2d(2))
    return MiniNet(body, 32, num_classes)


@register_model
def mini_vgg(num_classes):
    """VGG-style: stacked 3x3 convolutions, max-pooling between stages."""
    body = nn.Sequential(
        conv_bn(3, 16), nn.MaxPool2d(2),
        conv_bn(16, 32), conv_bn(32, 32), nn.MaxPool2d(2),
        conv_bn(32, 64), conv_bn(64, 64), nn.MaxPool2d(2),
    )
    return MiniNet(body, 64, num_classes)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv_bn(cin, cout, stride=stride)
        self.conv2 = conv_bn(cout, cout, act=False)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else conv_bn(cin, cout, 1, stride, act=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


def _resnet(num_classes, widths, blocks_per_stage):
    layers = [conv_bn(3, widths[0])]
    cin = widths[0]
    for stage, (width, blocks) in enumerate(zip(widths, blocks_per_stage)):
        for b in range(blocks):
            layers.append(BasicBlock(cin, width, 2 if stage > 0 and b == 0 else 1))
            cin = width
    return MiniNet(nn.Sequential(*layers), cin, num_classes)


@register_model
def mini_resnet8(num_classes):
    """ResNet with one basic block per stage (widths 16-32-64)."""
    return _resnet(num_classes, (16, 32, 64), (1, 1, 1))


@register_model
def mini_resnet14(num_classes):
    """ResNet with two basic blocks per stage (widths 16-32-64)."""
    return _resnet(num_classes, (16, 32, 64), (2, 2, 2))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.block = nn.Sequential(conv_bn(cin, hidden, 1), conv_bn(hidden, hidden, 3, stride, groups=hidden),
                                   conv_bn(hidden, cout, 1, act=False))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        out = self.block(x)
        return x + out if self.residual else out


@register_model
def mini_mobilenetv2(num_classes):
    """MobileNet v2-style: depthwise-separable inverted residuals, 1x1 expansion to 128 features."""
    cfg = [(16, 2, 1), (24, 1, 4), (24, 1, 4), (32, 2, 4), (32, 1, 4), (48, 1, 4)]
    layers, cin = [conv_bn(3, 16)], 16
    for cout, stride, expand in cfg:
        layers.append(InvertedResidual(cin, cout, stride, expand))
        cin = cout
    layers.append(conv_bn(cin, 128, 1))
    return MiniNet(nn.Sequential(*layers), 128, num_classes)


class DenseLayer(nn.Module):
    def __init__(self, cin, growth):
        super().__init__()
        self.conv = conv_bn(cin, growth)

    def forward(self, x):
        return torch.cat([x, self.conv(x)], 1)


@register_model
def mini_densenet(num_classes, growth=10, layers_per_block=3):
    """DenseNet-style: each layer's output concatenated to its input; 1x1 + pool transitions."""
    layers, cin = [conv_bn(3, 2 * growth, stride=2)], 2 * growth
    for block in range(3):
        for _ in range(layers_per_block):
            layers.append(DenseLayer(cin, growth))
            cin += growth
        if block < 2:
            layers += [conv_bn(cin, cin // 2, 1), nn.AvgPool2d(2)]
            cin //= 2
    return MiniNet(nn.Sequential(*layers), cin, num_classes)


class InceptionBlock(nn.Module):
    def __init__(self, cin, branch):
        super().__init__()
        self.b1 = conv_bn(cin, branch, 1)
        self.b3 = nn.Sequential(conv_bn(cin, branch, 1), conv_bn(branch, branch))
        self.b5 = nn.Sequential(conv_bn(cin, branch // 2, 1), conv_bn(branch // 2, branch), conv_bn(branch, branch))
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv_bn(cin, branch, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)


@register_model
def mini_inception(num_classes):
    """Inception-style: parallel 1x1, 3x3, double-3x3 and pool branches, concatenated."""
    body = nn.Sequential(conv_bn(3, 32), nn.MaxPool2d(2), InceptionBlock(32, 16), nn.MaxPool2d(2),
                         InceptionBlock(64, 24), nn.MaxPool2d(2))
    return MiniNet(body, 96, num_classes)


def penultimate(model, x):
    """Penultimate-layer features: the globally pooled input to the final classifier."""
    return model.forward_head(model.forward_features(x), pre_logits=True)
