"""Load any pretrained network the study compares, split at its penultimate layer (a ``nets.network.Pretrained``):
the workflow's own checkpoints, or a model spec of any source the registry knows (``nets.sources``).

Each network keeps its own native resolution and preprocessing (a ``PretrainedCfg``). Weights are read
offline; a missing file is an error that names the expected path and the command that fetches it on a
connected machine.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..io import read_json
from .sources import registry
from .sources.embedded import load_checkpoint


def load(spec_or_checkpoint, *, check_hash=None):
    """A ``Pretrained`` from a workflow checkpoint (``.pt``), a zoo record (``.json``) or a model spec (dict). The
    network a zoo record names must hash to the weights it recorded: every job then uses the network the record
    describes."""
    if isinstance(spec_or_checkpoint, (str, Path)):
        path = Path(spec_or_checkpoint)
        if path.suffix == ".json":  # a zoo record (rule pretrained_model), which holds its spec
            record = read_json(path, required=("spec", "checkpoint_sha256"))
            loaded = load(record["spec"], check_hash=check_hash)
            if loaded.info.sha256 != record["checkpoint_sha256"]:
                raise InputError(f"{path}: the network its spec loads now has weights hashing to "
                                 f"{loaded.info.sha256[:12]}..., but the record was made from weights hashing to "
                                 f"{record['checkpoint_sha256'][:12]}...: its weights file or builder changed since "
                                 "(or the builder draws random weights); delete the record to make it again, and "
                                 "what was computed from it")
            return loaded
        return load_checkpoint(path)
    spec = dict(spec_or_checkpoint)
    if check_hash is not None:
        spec["check_hash"] = check_hash
    return registry.get_source(spec).load(spec)
