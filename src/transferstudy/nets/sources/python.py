"""Networks of one's own (``python: path/to/file.py:function`` or ``package.module:function``): a function
returning ``(model, cfg)``, ``cfg`` the five preprocessing keys of a ``PretrainedCfg``; optional
``weights_file`` (``key_map`` maps another implementation's parameter names) and ``penultimate`` (the module
path of the final classifier, default the last ``nn.Linear``, checked to be the final layer). Such a network
publishes no top-1: the config gives it (``source_top1``) or the study measures it (``source.imagenet_val``).
"""

from __future__ import annotations

import inspect
from pathlib import Path

from .base import Source, WeightsNotFound
from ...errors import InputError, cause
from ...functions import load_function, python_reference


def _built(builder, reference, **kwargs):
    from torch import nn

    try:
        inspect.signature(builder).bind(**kwargs)
    except TypeError:
        needed = [name for name, parameter in inspect.signature(builder).parameters.items()
                  if parameter.default is parameter.empty and name not in kwargs
                  and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)]
        raise InputError(f"python = {reference!r}: the function needs {', '.join(needed)}, but it is called with "
                         f"{', '.join(f'{k}={v!r}' for k, v in kwargs.items()) or 'no arguments'}; give "
                         f"{'them defaults' if len(needed) > 1 else 'it a default'}") from None
    try:
        result = builder(**kwargs)
    except Exception as error:  # the user's code: whatever it raises is reported as its failure, in one line
        raise InputError(f"python = {reference!r}: the function raised {cause(error)}") from error
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], nn.Module)):
        raise InputError(f"python = {reference!r}: the function returned {type(result).__name__}; expected "
                         "(model, cfg) with model a torch.nn.Module")
    return result


def _check_head(reference, model, head_path, cfg, named):
    """``head_path`` is the network's final linear layer: the network's logits are its outputs (checked on a batch
    of two images at the network's input size)."""
    import torch
    from torch import nn

    layer = f"penultimate = {head_path!r}" if named else f"its last nn.Linear, {head_path},"
    where = f"python = {reference!r}: {layer}"
    try:
        head = model.get_submodule(head_path)
    except AttributeError as error:
        raise InputError(f"{where} is not a module of the network") from error
    if not isinstance(head, nn.Linear):
        raise InputError(f"{where} is a {type(head).__name__}; name the final nn.Linear classifier, whose input is the "
                         "penultimate layer")
    x = torch.zeros(2, *cfg.input_size)
    with torch.no_grad():
        logits = model.eval()(x)
    if isinstance(logits, (tuple, list, dict)):
        parts = logits.values() if isinstance(logits, dict) else logits
        shapes = ", ".join(str(tuple(part.shape)) if torch.is_tensor(part) else type(part).__name__ for part in parts)
        raise InputError(f"python = {reference!r}: the network's forward returns a {type(logits).__name__} "
                         f"({shapes}) in eval mode, not one tensor of logits; make the function return a network "
                         "whose forward returns the logits alone (e.g. a wrapper returning model(x)[0])")
    if not (torch.is_tensor(logits) and logits.shape == (2, head.out_features)):
        shape = tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
        raise InputError(f"{where} is not the final classifier: the network maps [2, 3, H, W] to {shape}, not to its "
                         f"{head.out_features} outputs; name the final classifier with penultimate")
    return head


def _fresh(builder, reference, head_path, num_features):
    """The builder's architecture freshly initialised, with a new head: the builder's own initialisation when it
    takes ``pretrained`` (called with ``pretrained=False``), else every layer's ``reset_parameters``."""
    from ..network import linear_head_at

    takes_pretrained = "pretrained" in inspect.signature(builder).parameters

    def fresh(num_classes):
        model, _ = _built(builder, reference, **({"pretrained": False} if takes_pretrained else {}))
        if not takes_pretrained:
            stuck = [name or type(model).__name__ for name, module in model.named_modules()
                     if any(True for _ in module.parameters(recurse=False)) and not hasattr(module, "reset_parameters")]
            if stuck:
                raise InputError(f"python = {reference!r}: cannot re-initialise the network for training from scratch: "
                                 f"{', '.join(stuck[:5])} have parameters but no reset_parameters(). Give the "
                                 "function a `pretrained` argument (called with pretrained=False for scratch)")
            for module in model.modules():
                if any(True for _ in module.parameters(recurse=False)):
                    module.reset_parameters()
        linear_head_at(head_path, num_features)(model, num_classes)
        return model

    return fresh


class PythonSource(Source):
    key = "python"
    publishes_top1 = False

    def check(self, spec):
        python_reference(spec["python"])

    def files(self, spec):
        module, _ = python_reference(spec["python"])
        return super().files(spec) + ([str(module)] if isinstance(module, Path) else [])

    def check_loadable(self, spec, recipe=None):
        from ..weights import check_key_map

        # Imported, not called: building may load weights, which the zoo record job does.
        _, builder_file = load_function(spec["python"])
        check_key_map(spec.get("key_map"))
        if spec.get("weights_file") and not Path(spec["weights_file"]).is_file():
            raise WeightsNotFound(f"weights_file {spec['weights_file']} not found")
        return {"source": self.key, "arch": spec["python"], "builder_file": str(builder_file),
                "weights_file": spec.get("weights_file")}

    def load(self, spec):
        from ...data.preprocessing import PretrainedCfg
        from ...provenance import sha256_file
        from ..network import NetworkInfo, Pretrained, final_linear, linear_head_at, split_at_head
        from ..weights import load_weights, state_dict_sha256

        reference = spec["python"]
        builder, source_file = load_function(reference)
        model, cfg = _built(builder, reference)
        cfg = PretrainedCfg.checked(cfg, f"python = {reference!r}: the returned cfg")
        weights_file = spec.get("weights_file")
        if weights_file:
            load_weights(model, weights_file, spec.get("key_map"))
        head_path = spec.get("penultimate") or final_linear(model)
        head = _check_head(reference, model, head_path, cfg, named="penultimate" in spec)
        checkpoint_sha256 = state_dict_sha256(model)
        split_at_head(model, head_path)
        return Pretrained(
            body=model.eval(), head=head.eval(), num_features=head.in_features, pretrained_cfg=cfg,
            info=NetworkInfo(spec=spec, arch=reference, weights_file=str(weights_file or source_file),
                             sha256=checkpoint_sha256, builder_file=str(source_file.resolve()),
                             builder_sha256=sha256_file(source_file),
                             weights_file_sha256=sha256_file(weights_file) if weights_file else None,
                             layer=f"input to {head_path} (the final classifier)"),
            _fresh=_fresh(builder, reference, head_path, head.in_features),
            _attach_head=linear_head_at(head_path, head.in_features),
        )

    def skeleton(self, spec):
        from ...data.preprocessing import PretrainedCfg

        # The builder's own network (it may read its weights, so not on the meta device: `transferstudy
        # calibrate` builds it on the machine that runs it).
        reference = spec["python"]
        builder, _ = load_function(reference)
        takes_pretrained = "pretrained" in inspect.signature(builder).parameters
        model, cfg = _built(builder, reference, **({"pretrained": False} if takes_pretrained else {}))
        return model, PretrainedCfg.checked(cfg, f"python = {reference!r}: the returned cfg").image_size
