import copy

import pytest
import yaml

from conftest import ROOT, run_snakemake
from transferstudy.config import ConfigError, check_config, enabled_arms

DEFAULT = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def _with(change):
    config = copy.deepcopy(DEFAULT)
    change(config)
    return config


@pytest.mark.parametrize("change, message", [
    (lambda c: c["models"].__setitem__("big", {"arch": "resnet9000"}),
     "models.big.arch = 'resnet9000' is not a known architecture; valid: mini_convnet"),
    (lambda c: c["datasets"].__setitem__("cifar11", {}), "datasets.cifar11 is not a known target dataset; valid: "),
    (lambda c: c["datasets"].__setitem__("textures", {"train_size": 5}),
     r"datasets.textures has unknown option\(s\) \['train_size'\] for dataset 'textures'; valid: "),
    (lambda c: c["source"].__setitem__("dataset", "digits"), "source.dataset = 'digits' is not a source dataset"),
    (lambda c: c["probe"].__setitem__("penalty_min", 1e6), "probe.penalty_min .* exceeds probe.penalty_max"),
    (lambda c: c["finetune"].__setitem__("datasets", ["cars"]), r"finetune.datasets lists \['cars'\], which are not in"),
    (lambda c: c["scratch"]["recipe"].__setitem__("checkpoint_every", 1000),
     r"scratch.recipe.checkpoint_every \(1000\) exceeds scratch.recipe.steps"),
    (lambda c: c["datasets"].__setitem__("dtd", {}), r"datasets.dtd.root is missing.*DTD\(root, download=True\)"),
    (lambda c: c["datasets"].__setitem__("birdsnap", {"root": "x", "download": True}),
     "torchvision cannot download birdsnap"),
    (lambda c: c["models"].__setitem__("r50", {"torchvision": "resnet50", "weights": "IMAGENET1K_V3"}),
     "models.r50: torchvision model 'resnet50' has no weights 'IMAGENET1K_V3'; valid: IMAGENET1K_V1"),
    (lambda c: c["models"].__setitem__("sq", {"torchvision": "squeezenet1_0"}), "no known penultimate layer"),
    (lambda c: c["models"].__setitem__("i4", {"timm": "inception_v4.imagined_in1k"}),
     "timm has no pretrained weights 'inception_v4.imagined_in1k'; valid tags: inception_v4.tf_in1k"),
    (lambda c: c.pop("source"), "source.dataset = None is not a source dataset"),
])
def test_check_config_names_the_key_and_the_valid_choices(change, message):
    with pytest.raises(ConfigError, match=message):
        check_config(_with(change))


def test_default_config_passes():
    assert check_config(copy.deepcopy(DEFAULT))


def test_training_arms_are_enabled_by_their_section():
    assert enabled_arms(DEFAULT) == ["finetune", "scratch"]
    assert enabled_arms(_with(lambda c: c["scratch"].__setitem__("enabled", False))) == ["finetune"]
    assert enabled_arms(_with(lambda c: c.pop("finetune"))) == ["scratch"]


@pytest.mark.parametrize("change, expected", [
    (lambda c: c.__setitem__("threads", "two"), ["threads", "'two' is not of type 'integer'"]),
    (lambda c: c.pop("probe"), ["'probe' is a required property"]),
    (lambda c: c["pretrain"].__setitem__("epoch", 3), ["epoch", "Additional properties are not allowed"]),
    (lambda c: c["models"]["mini_vgg"].__setitem__("arch", "vgg99"), ["models.mini_vgg.arch = 'vgg99'"]),
    (lambda c: c["finetune"].__setitem__("lr", [0.1, 50]), ["finetune", "50 is greater than the maximum of 10"]),
])
def test_workflow_stops_before_any_job_with_the_key_named(tmp_path, change, expected):
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(yaml.safe_dump(_with(change)))
    result = run_snakemake("-n", workdir=tmp_path / "run", configfile=configfile)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for text in expected:
        assert text in output, output[-2000:]
    assert "Job stats" not in output
