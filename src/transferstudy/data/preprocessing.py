"""How a network wants its images: the five preprocessing keys of timm's ``PretrainedCfg`` as one typed record.

Every source of networks (``nets.sources``) and the workflow's own pretraining describe a network's
preprocessing with a ``PretrainedCfg``; checkpoints and zoo records store it as a dict (``as_dict``), in the
key order timm uses. Free of torch.
"""

from dataclasses import dataclass

from ..errors import InputError

INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclass(frozen=True)
class PretrainedCfg:
    """The evaluation preprocessing of a network: resize the shorter side to ``image_size / crop_pct`` with
    ``interpolation``, centre-crop ``image_size``, normalise with ``mean`` and ``std`` (on [0, 1] RGB pixels)."""

    input_size: tuple  # (3, H, W)
    mean: tuple
    std: tuple
    interpolation: str = "bilinear"
    crop_pct: float = 1.0

    KEYS = ("input_size", "mean", "std", "interpolation", "crop_pct")

    def __post_init__(self):
        if len(self.input_size) != 3 or self.input_size[1] != self.input_size[2]:
            raise InputError(f"input_size = {tuple(self.input_size)!r} is not square; a network is evaluated on a "
                             "square centre crop (3, S, S), as timm and the paper do")

    @property
    def image_size(self):
        return int(self.input_size[-1])

    def as_dict(self):
        """The five keys as a checkpoint or a zoo record stores them (lists, in timm's order)."""
        return {"input_size": list(self.input_size), "mean": list(self.mean), "std": list(self.std),
                "interpolation": self.interpolation, "crop_pct": self.crop_pct}

    @classmethod
    def from_dict(cls, cfg):
        """From a stored dict, or timm's ``PretrainedCfg.to_dict()`` (its other keys ignored)."""
        given = {key: cfg[key] for key in cls.KEYS if key in cfg}
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in given.items()})

    @classmethod
    def checked(cls, cfg, where):
        """A cfg given by someone else's code (a ``python`` model's builder), its five keys checked; ValueError
        naming ``where`` the cfg came from, the key and what would be valid."""
        if not isinstance(cfg, dict):
            raise InputError(f"{where} is a {type(cfg).__name__}; expected a dict with {', '.join(cls.KEYS)}")
        missing = [key for key in cls.KEYS if key not in cfg]
        if missing:
            raise InputError(f"{where} lacks {', '.join(missing)} (timm's pretrained-config keys: input_size (3, H, "
                             "W), mean, std, interpolation, crop_pct)")
        size = list(cfg["input_size"])
        if len(size) != 3 or size[0] != 3 or not all(isinstance(v, int) and v > 0 for v in size):
            raise InputError(f"{where}: input_size = {cfg['input_size']!r}; expected (3, H, W)")
        for key in ("mean", "std"):
            values = list(cfg[key])
            if len(values) != 3 or (key == "std" and min(values) <= 0):
                positive = ", positive" if key == "std" else ""
                raise InputError(f"{where}: {key} = {cfg[key]!r}; expected 3 numbers{positive}")
        if cfg["interpolation"] not in INTERPOLATIONS:
            raise InputError(f"{where}: interpolation = {cfg['interpolation']!r}; valid: {', '.join(INTERPOLATIONS)}")
        if not 0 < float(cfg["crop_pct"]) <= 1:
            raise InputError(f"{where}: crop_pct = {cfg['crop_pct']!r}; expected a fraction in (0, 1]")
        try:  # the cfg's own checks (a square input_size)
            return cls(input_size=tuple(size), mean=tuple(float(v) for v in cfg["mean"]),
                       std=tuple(float(v) for v in cfg["std"]), interpolation=cfg["interpolation"],
                       crop_pct=float(cfg["crop_pct"]))
        except InputError as error:
            raise InputError(f"{where}: {error}") from error
