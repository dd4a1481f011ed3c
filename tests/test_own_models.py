"""Networks of one's own: a builder function named in the config, weights files with foreign parameter names,
and the two ports of Cadene's pretrainedmodels (BN-Inception, NASNet-A Mobile) through the real loader."""

import textwrap

import pytest
import torch
from torch import nn

from transferstudy.config import ConfigError
from transferstudy.data.images import normalize
from transferstudy.io import read_json
from transferstudy.nets import pretrained, weights, zoo
from transferstudy.nets.sources.base import WeightsNotFound
from transferstudy.nets.sources import pretrainedmodels as pm_source
from transferstudy.study.plan import Study

BUILDER = '''
import torch
from torch import nn

CFG = {"input_size": (3, 16, 16), "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), "interpolation": "bilinear",
       "crop_pct": 0.875}


class Net(nn.Module):
    def __init__(self, classes=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.proj = nn.Linear(4, 6)
        self.classifier = nn.Linear(6, classes)

    def forward(self, x):
        return self.classifier(torch.relu(self.proj(self.pool(self.stem(x)).flatten(1))))


def build():
    torch.manual_seed(SEED)
    return Net(), dict(CFG)


def build_with_flag(pretrained=True):
    torch.manual_seed(SEED)
    model = Net()
    if not pretrained:
        nn.init.zeros_(model.proj.weight)
    return model, dict(CFG)


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x.mean((2, 3)) * self.scale)


def custom():
    return Custom(), dict(CFG)


def not_a_pair():
    return Net()


def bad_cfg():
    return Net(), {"input_size": (3, 16, 16), "mean": (0.5,) * 3}


def needs_depth(depth, width=4):
    return Net(), dict(CFG)


def broken():
    raise RuntimeError("no weights here")


class Pair(Net):
    def forward(self, x):
        return super().forward(x), x.mean((2, 3))


def pair():
    torch.manual_seed(SEED)
    return Pair(), dict(CFG)


def wide():
    torch.manual_seed(SEED)
    return Net(), {**CFG, "input_size": (3, 16, 24)}
'''


@pytest.fixture
def builder_file(tmp_path):
    path = tmp_path / "my_nets.py"
    path.write_text("SEED = 0\n" + textwrap.dedent(BUILDER))
    return path


def test_a_model_from_a_builder_file_splits_at_its_final_linear_layer(builder_file, tmp_path):
    loaded = pretrained.load({"python": f"{builder_file}:build", "source_top1": 0.6})
    assert loaded.num_features == 6 and loaded.head.out_features == 5
    assert loaded.info.layer == "input to classifier (the final classifier)"
    assert loaded.pretrained_cfg.input_size == (3, 16, 16) and loaded.pretrained_cfg.crop_pct == 0.875
    torch.manual_seed(0)
    reference = _module(builder_file).Net().eval()
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded.head(loaded.penultimate(x)), reference(x))
    assert loaded.with_new_head(2).eval()(x).shape == (3, 2)
    assert loaded.source_top1() == (0.6, "config")
    # The builder's file is hashed; so are the weights it built (another seed: another hash).
    record = zoo.describe({"python": f"{builder_file}:build", "source_top1": 0.6}, tmp_path / "zoo.json",
                          model_name="mine")
    assert record["builder_sha256"] and record["checkpoint_sha256"] == loaded.info.sha256
    builder_file.write_text(builder_file.read_text().replace("SEED = 0", "SEED = 1"))
    changed = pretrained.load({"python": f"{builder_file}:build", "source_top1": 0.6})
    assert changed.info.builder_sha256 != record["builder_sha256"]
    assert changed.info.sha256 != record["checkpoint_sha256"]
    assert read_json(tmp_path / "zoo.json")["layer"] == loaded.info.layer


def _module(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("reference_nets", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_penultimate_names_the_final_classifier(builder_file):
    loaded = pretrained.load({"python": f"{builder_file}:build", "penultimate": "classifier", "source_top1": 0.6})
    assert loaded.num_features == 6
    with pytest.raises(ValueError, match=r"penultimate = 'proj' is not the final classifier: the network maps "
                                         r"\[2, 3, H, W\] to \(2, 5\), not to its 6 outputs"):
        pretrained.load({"python": f"{builder_file}:build", "penultimate": "proj"})
    with pytest.raises(ValueError, match=r"penultimate = 'pool' is a AdaptiveAvgPool2d; name the final nn.Linear"):
        pretrained.load({"python": f"{builder_file}:build", "penultimate": "pool"})
    with pytest.raises(ValueError, match=r"penultimate = 'head' is not a module of the network"):
        pretrained.load({"python": f"{builder_file}:build", "penultimate": "head"})


@pytest.mark.parametrize("function, message", [
    ("missing", r"has no function 'missing'; it defines bad_cfg, broken, build, build_with_flag, custom, "
                r"needs_depth, not_a_pair, pair, wide"),
    ("not_a_pair", r"the function returned Net; expected \(model, cfg\)"),
    ("bad_cfg", r"the returned cfg lacks std, interpolation, crop_pct"),
    ("needs_depth", r"my_nets.py:needs_depth': the function needs depth, but it is called with no arguments; give it "
                    r"a default"),
    ("broken", r"my_nets.py:broken': the function raised RuntimeError: no weights here"),
    ("pair", r"the network's forward returns a tuple \(\(2, 5\), \(2, 3\)\) in eval mode, not one tensor of logits"),
    ("wide", r"the returned cfg: input_size = \(3, 16, 24\) is not square"),
])
def test_a_bad_builder_is_named(builder_file, function, message):
    with pytest.raises(ValueError, match=message):
        pretrained.load({"python": f"{builder_file}:{function}"})


def test_a_builder_of_random_weights_is_refused_and_a_record_whose_weights_changed_too(builder_file, tmp_path):
    with pytest.raises(ValueError, match=r"models.mine: python = .*:custom': two calls of the function built "
                                         r"different weights: it draws them at random without a fixed seed"):
        zoo.describe({"python": f"{builder_file}:custom", "source_top1": 0.6}, tmp_path / "random.json",
                     model_name="mine")
    assert not (tmp_path / "random.json").exists()
    record = tmp_path / "zoo.json"
    zoo.describe({"python": f"{builder_file}:build", "source_top1": 0.6}, record, model_name="mine")
    assert pretrained.load(record).info.sha256 == read_json(record)["checkpoint_sha256"]
    builder_file.write_text(builder_file.read_text().replace("SEED = 0", "SEED = 1"))
    with pytest.raises(ValueError, match=r"zoo.json: the network its spec loads now has weights hashing to .*, but "
                                         r"the record was made from weights hashing to"):
        pretrained.load(record)


def test_training_from_scratch_reinitialises_the_builders_architecture(builder_file):
    loaded = pretrained.load({"python": f"{builder_file}:build", "source_top1": 0.6})
    torch.manual_seed(5)
    fresh = loaded.random_init(3)
    assert fresh.classifier.out_features == 3
    assert not torch.equal(fresh.proj.weight, loaded.body.proj.weight)  # reset_parameters, not the built weights
    # A builder that takes `pretrained` initialises the network itself.
    flagged = pretrained.load({"python": f"{builder_file}:build_with_flag", "source_top1": 0.6})
    assert torch.count_nonzero(flagged.random_init(3).proj.weight) == 0
    custom = pretrained.load({"python": f"{builder_file}:custom", "source_top1": 0.6})
    with pytest.raises(ValueError, match=r"cannot re-initialise .*: Custom have parameters but no reset_parameters"):
        custom.random_init(2)


def test_weights_with_foreign_names_load_through_a_key_map(builder_file, tmp_path):
    torch.manual_seed(3)
    source = _module(builder_file).Net()
    foreign = {f"module.{name.replace('classifier', 'head.fc')}": tensor
               for name, tensor in source.state_dict().items()}
    torch.save({"state_dict": foreign, "epoch": 90}, tmp_path / "ported.pth")
    spec = {"python": f"{builder_file}:build", "weights_file": str(tmp_path / "ported.pth"), "source_top1": 0.6}
    with pytest.raises(weights.WeightsMismatch, match=r"ported.pth does not fit the architecture: 11 names of the "
                                                      r"file match none .*module.stem.0.weight.*; 11 names of the "
                                                      r"architecture are not in the file: stem.0.weight"):
        pretrained.load(spec)
    loaded = pretrained.load({**spec, "key_map": {r"^module\.": "", r"^head\.fc\.": "classifier."}})
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded.head(loaded.penultimate(x)), source.eval()(x))
    assert loaded.info.weights_file_sha256 and loaded.info.weights_file == str(tmp_path / "ported.pth")
    # Positional: the file's tensors in stored order, shapes checked.
    loaded = pretrained.load({**spec, "key_map": "positional"})
    torch.testing.assert_close(loaded.body.proj.weight, source.proj.weight)
    shuffled = dict(reversed(list(foreign.items())))
    torch.save(shuffled, tmp_path / "shuffled.pth")
    with pytest.raises(weights.WeightsMismatch, match=r"tensor 0 of the file, module.head.fc.bias \(5,\), does not "
                                                      r"fit the architecture's stem.0.weight \(4, 3, 3, 3\)"):
        pretrained.load({**spec, "weights_file": str(tmp_path / "shuffled.pth"), "key_map": "positional"})


def test_a_timm_checkpoint_of_another_implementation_loads_through_a_key_map(tmp_path):
    import timm

    torch.manual_seed(0)
    reference = timm.create_model("resnet10t", pretrained=False, num_classes=1000).eval()
    torch.save({f"backbone.{k}": v for k, v in reference.state_dict().items()}, tmp_path / "other.pth")
    loaded = pretrained.load({"timm": "resnet10t.c3_in1k", "weights_file": str(tmp_path / "other.pth"),
                              "key_map": {r"^backbone\.": ""}, "source_top1": 0.66})
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.head(loaded.penultimate(x)), reference(x), rtol=1e-4, atol=1e-5)


def test_state_dict_hash_sees_values_names_and_scalars():
    a, b = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    assert weights.state_dict_sha256(a) == weights.state_dict_sha256(b)
    b.num_batches_tracked += 1
    assert weights.state_dict_sha256(a) != weights.state_dict_sha256(b)


@pytest.mark.parametrize("name", sorted(pm_source.PORTS))
def test_pretrainedmodels_ports_load_offline_with_their_preprocessing(torch_home, name):
    import pretrainedmodels

    expected = torch_home / "hub" / "checkpoints" / pm_source.PORTS[name][1]
    with pytest.raises(WeightsNotFound, match=rf"(?s)expected at {expected}.*pretrained='imagenet'"):
        pretrained.load({"pretrainedmodels": name})
    torch.manual_seed(0)
    reference = getattr(pretrainedmodels, name)(num_classes=1000, pretrained=None).eval()
    path = torch_home / "hub" / "checkpoints" / pm_source.PORTS[name][1]
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)  # the published layout: the network's own state dict
    with pytest.raises(ValueError, match="does not start with"):  # not the published file
        pretrained.load({"pretrainedmodels": name})
    loaded = pretrained.load({"pretrainedmodels": name, "check_hash": False})
    settings = pretrainedmodels.pretrained_settings[name]["imagenet"]
    assert loaded.pretrained_cfg.input_size == (3, 224, 224)
    pixels = torch.rand(2, 3, 224, 224)  # RGB in [0, 1], as the study feeds networks
    theirs = pixels * settings["input_range"][1]
    if settings["input_space"] == "BGR":
        theirs = theirs.flip(1)
    theirs = (theirs - torch.tensor(settings["mean"]).view(1, 3, 1, 1)) / torch.tensor(settings["std"]).view(1, 3, 1, 1)
    ours = normalize(pixels, loaded.pretrained_cfg.mean, loaded.pretrained_cfg.std)
    with torch.no_grad():
        torch.testing.assert_close(loaded.head(loaded.penultimate(ours)), reference(theirs), rtol=1e-3, atol=1e-3)
    assert loaded.num_features == reference.last_linear.in_features
    top1, origin = loaded.source_top1()
    assert top1 == pm_source.PORTS[name][2] and "pretrainedmodels 0.7.4" in origin
    assert loaded.with_new_head(4).eval()(ours).shape == (2, 4) and loaded.random_init(4)(ours).shape == (2, 4)


def _config(models, **extra):
    return {"models": models, "datasets": {"textures": {}}, **extra}


def test_the_study_checks_models_of_ones_own(builder_file, tmp_path):
    study = Study(_config({"mine": {"python": f"{builder_file}:build", "source_top1": 0.6},
                           "bn": {"pretrainedmodels": "bninception"}}))
    assert study.zoo.files("mine") == [str(builder_file)] and study.zoo.files("bn") == []
    assert study.zoo.downloaded == ["mine", "bn"]
    for models, message in [
        ({"mine": {"python": f"{tmp_path}/nowhere.py:build", "source_top1": 0.6}}, r"models.mine: python = .*: file "
                                                                                   r".*nowhere.py .* not found"),
        ({"mine": {"python": f"{builder_file}"}}, r"give 'path/to/file.py:function' or 'package.module:function'"),
        ({"mine": {"python": f"{builder_file}:build"}}, r"models.mine: source_top1 is missing"),
        ({"mine": {"python": f"{builder_file}:build", "source_top1": 0.6, "weights_file": "none.pth"}},
         r"models.mine: weights_file none.pth .* not found"),
        ({"net": {"pretrainedmodels": "inceptionv4"}}, r"models.net.pretrainedmodels = 'inceptionv4' is not valid; valid: bninception"),
    ]:
        with pytest.raises(ConfigError, match=message):
            Study(_config(models))
    assert zoo.check_spec("mine", {"python": f"{builder_file}:build"})["builder_file"] == str(builder_file)
    with pytest.raises(ConfigError, match=r"models.mine: key_map: '\(' is not a regular expression"):
        zoo.check_spec("mine", {"python": f"{builder_file}:build", "key_map": {"(": ""}})
