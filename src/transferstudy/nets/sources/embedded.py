"""Networks the workflow pretrains itself (``arch``): the embedded zoo's small networks of the paper's families
(``nets.architectures``) or a torchvision classification architecture, loaded from the workflow's own
checkpoints (``load_checkpoint``). The penultimate layer is the input to ``fc`` (the embedded zoo) or to the
family's final classifier (``torchvision.TORCHVISION_HEADS``)."""

from __future__ import annotations

from .base import RecipeError, Source
from ...errors import InputError, cause


class EmbeddedSource(Source):
    key = "arch"

    def check_loadable(self, spec, recipe=None):
        """The architecture is the embedded zoo's or torchvision's, and takes the recipe's switches (built on
        the meta device: no memory or time for weights)."""
        import torch

        from ...config import PretrainRecipe
        from ...switches import model_options, switches_label, switches_on
        from .. import architectures

        arch, recipe = spec["arch"], PretrainRecipe.of(recipe)
        if arch not in architectures.list_models() + architectures.torchvision_architectures():
            raise InputError(f"arch = {arch!r} is not a known architecture; valid: "
                             f"{', '.join(architectures.list_models())}, or a torchvision classification model "
                             "(torchvision.models.list_models(module=torchvision.models))")
        try:
            with torch.device("meta"):
                architectures.create_model(arch, num_classes=2, **model_options(recipe.as_dict()))
        except ValueError as error:
            raise RecipeError(str(error)) from error
        return {"source": self.key, "arch": arch, "switches": switches_label(switches_on(recipe.as_dict()))}

    def load(self, spec):
        raise InputError(f"model spec {spec}: a network the workflow pretrains is loaded from its checkpoint file")

    def skeleton(self, spec):
        from .. import architectures

        # Pretrained here at the source dataset's image size, which the study knows.
        return architectures.create_model(spec["arch"], num_classes=1000), None


def load_checkpoint(path):
    """A ``Pretrained`` from a checkpoint the workflow's pretraining wrote (``train.pretrain``)."""
    import torch

    from ...data.preprocessing import PretrainedCfg
    from ...provenance import sha256_file
    from .. import architectures
    from ..network import NetworkInfo, Pretrained, drop_aux_heads, linear_head_at, split_at_head
    from .torchvision import torchvision_head

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a file that is not a torch file
        raise InputError(f"{path}: cannot read it as a checkpoint ({cause(error)}); a truncated or "
                         "foreign file? Delete it so that the job that writes it runs again") from error
    if not isinstance(checkpoint, dict) or not {"arch", "num_classes", "state_dict"} <= set(checkpoint):
        raise InputError(f"{path}: not a checkpoint written by `transferstudy pretrain` (it needs arch, num_classes "
                         "and state_dict)")
    options = checkpoint.get("model_options", {})
    arch = checkpoint["arch"]
    model = architectures.create_model(arch, num_classes=checkpoint["num_classes"], **options)
    model.load_state_dict(checkpoint["state_dict"])
    # The auxiliary classifiers only served pretraining.
    if isinstance(model, architectures.MiniNet):
        model.aux = None
        head_path, layer = "fc", architectures.MiniNet.penultimate_layer
    else:  # a torchvision architecture pretrained by the workflow (at full scale)
        drop_aux_heads(model)
        head_path = torchvision_head(arch)
        layer = f"input to {head_path} (the final classifier)"
    head = split_at_head(model, head_path)
    return Pretrained(
        body=model.eval(), head=head.eval(), num_features=head.in_features,
        pretrained_cfg=PretrainedCfg.from_dict(checkpoint["pretrained_cfg"]),
        info=NetworkInfo(spec={"arch": arch}, arch=arch, weights_file=str(path), sha256=sha256_file(path),
                         layer=layer, source_dataset=checkpoint["source_dataset"], model_options=options,
                         switches=checkpoint.get("switches")),
        _fresh=lambda n: architectures.create_model(arch, num_classes=n, **{**options, "aux_head": False}),
        _attach_head=linear_head_at(head_path, head.in_features),
    )
