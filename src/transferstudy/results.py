"""A transfer result, as every setting's job writes it: one set of names for what the probe's and the training
arms' result JSONs share (``TransferResult``), and the record the tables read from any of them. Free of torch.

``value`` is the dataset's metric on the result's evaluation split (``eval_split``): test for a probe and for a
training arm's refit, validation for a grid point; None where a grid point diverged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .io import read_json, require_keys


@dataclass(frozen=True)
class TransferResult:
    model: str
    dataset: str
    setting: str
    metric: str
    value: float | None
    eval_split: str
    sizes: dict  # examples per split: train, val, test
    arch: str | None
    checkpoint_sha256: str | None
    split_seed: int | None
    hyperparameters: dict  # the chosen penalty (probe), or the learning rate and weight decay
    not_converged: int | None = None  # fits that did not converge (probe); SGD for fixed steps has no criterion

    def as_dict(self):
        return asdict(self)

    @classmethod
    def of(cls, result, path):
        """The record of a result JSON's contents; an error naming the file and the keys it lacks."""
        require_keys(result, [f.name for f in fields(cls)], path)
        return cls(**{f.name: result[f.name] for f in fields(cls)})

    @classmethod
    def read(cls, path):
        return cls.of(read_json(path), path)
