"""The interface every source of networks implements, free of torch."""

from __future__ import annotations

from typing import ClassVar

from ...errors import InputError


class WeightsNotFound(InputError, FileNotFoundError):
    """Pretrained weights are not on this machine; the message says where they are expected and how to get them."""


class RecipeError(InputError):
    """The pretraining recipe of a network the workflow pretrains asks for what its architecture lacks."""


class Source:
    """What every source of networks answers for a model spec. Errors are ``ValueError`` (``WeightsNotFound`` for a
    missing weights file) whose messages name the spec's key at fault; callers prefix the model's config key."""

    key: ClassVar[str]  # the spec key that names this source
    publishes_top1: ClassVar[bool] = True

    def check(self, spec):
        """Checks of the spec without torch (planning)."""

    def architecture(self, spec):
        return spec[self.key]

    def files(self, spec):
        return [spec["weights_file"]] if spec.get("weights_file") else []

    def check_loadable(self, spec, recipe=None):
        raise NotImplementedError

    def load(self, spec):
        raise NotImplementedError

    def skeleton(self, spec):
        """The network without weights, built on torch's current default device (the meta device, for counting
        its cost), and its native input size (None where the study decides it), or ValueError where the source
        cannot build one without running code of one's own."""
        raise InputError(f"{self.key} networks are not built without their weights; `transferstudy calibrate` "
                         "measures them")

    def spec_from_reference(self, text):
        """The spec a command's ``<key>:<text>`` argument names."""
        return {self.key: text}
