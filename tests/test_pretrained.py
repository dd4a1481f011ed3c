"""The pretrained-model loaders: the penultimate layer of every family, offline weights through the real
torchvision and timm paths, and clear errors when weights are missing."""

import pytest
import torch
import torchvision

from transferstudy.nets import network, pretrained, zoo
from transferstudy.nets.sources.base import WeightsNotFound
from transferstudy.nets.sources import timm as timm_source
from transferstudy.nets.sources import torchvision as tv_source
from transferstudy.settings import SOURCE_ACCURACIES

# The smallest member of each torchvision family, with an input size it accepts.
TORCHVISION_FAMILIES = {
    "alexnet": ("alexnet", 64), "convnext": ("convnext_tiny", 64), "densenet": ("densenet121", 64),
    "efficientnet": ("efficientnet_b0", 64), "googlenet": ("googlenet", 64), "inception_v3": ("inception_v3", 80),
    "maxvit": ("maxvit_t", 224), "mnasnet": ("mnasnet0_5", 64), "mobilenet_v2": ("mobilenet_v2", 64),
    "mobilenet_v3": ("mobilenet_v3_small", 64), "regnet": ("regnet_y_400mf", 64), "resnet": ("resnet18", 64),
    "resnext": ("resnext50_32x4d", 64), "shufflenet": ("shufflenet_v2_x0_5", 64), "swin": ("swin_t", 64),
    "vgg": ("vgg11", 64), "vit": ("vit_b_16", 224), "wide_resnet": ("wide_resnet50_2", 64),
}


def test_every_torchvision_family_in_the_table_is_tested():
    assert set(TORCHVISION_FAMILIES) == set(tv_source.TORCHVISION_HEADS)


@pytest.mark.parametrize("family", sorted(TORCHVISION_FAMILIES))
def test_torchvision_penultimate_is_the_classifier_input(family):
    name, size = TORCHVISION_FAMILIES[family]
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None, num_classes=7, **tv_source.builder_options(name)).eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        logits = model(x)
        head = network.split_at_head(model, tv_source.torchvision_head(name))
        features = model(x)
    assert isinstance(head, torch.nn.Linear) and head.out_features == 7
    assert features.shape == (2, head.in_features)
    torch.testing.assert_close(head(features), logits, rtol=1e-4, atol=1e-5)


def test_unknown_torchvision_family_and_names_are_refused():
    with pytest.raises(ValueError, match="squeezenet.*supported families"):
        tv_source.torchvision_head("squeezenet1_0")
    with pytest.raises(ValueError, match="no classification model 'resnet51'"):
        tv_source.weights_enum("resnet51")
    with pytest.raises(ValueError, match="no weights 'IMAGENET1K_V9'; valid: IMAGENET1K_V1"):
        tv_source.weights_enum("resnet50", "IMAGENET1K_V9")


def test_torchvision_weights_load_offline_from_torch_home(torch_home):
    # GoogLeNet: its builder drops the auxiliary heads and switches on the input transform for pretrained
    # weights; the file must go through that builder, not a plain load_state_dict.
    weights = tv_source.weights_enum("googlenet", "IMAGENET1K_V1")
    path = tv_source.weights_path(weights)
    assert path.parent == torch_home / "hub" / "checkpoints" and path.name == "googlenet-1378be20.pth"
    torch.manual_seed(0)
    reference = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True)
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    reference.transform_input = True
    reference.eval()

    with pytest.raises(ValueError, match="does not start with 1378be20"):
        pretrained.load({"torchvision": "googlenet", "weights": "IMAGENET1K_V1"})
    loaded = pretrained.load({"torchvision": "googlenet", "weights": "IMAGENET1K_V1", "check_hash": False})
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(loaded.head(loaded.penultimate(x)), reference(x), rtol=1e-4, atol=1e-5)
    assert loaded.num_features == 1024
    assert loaded.pretrained_cfg.as_dict() == {"input_size": [3, 224, 224], "mean": [0.485, 0.456, 0.406],
                                               "std": [0.229, 0.224, 0.225], "interpolation": "bilinear",
                                               "crop_pct": 224 / 256}
    assert loaded.info.weights_file == str(path) and len(loaded.info.sha256) == 64
    assert loaded.source_top1() == (pytest.approx(0.69778), "weights metadata")


def test_torchvision_fine_tune_and_scratch_models(torch_home):
    torch.manual_seed(0)
    state = torchvision.models.mobilenet_v3_small(weights=None).state_dict()
    weights = tv_source.weights_enum("mobilenet_v3_small")
    tv_source.weights_path(weights).parent.mkdir(parents=True)
    torch.save(state, tv_source.weights_path(weights))
    loaded = pretrained.load({"torchvision": "mobilenet_v3_small", "source_top1": 0.5}, check_hash=False)
    assert loaded.source_top1() == (0.5, "config")
    tuned = loaded.with_new_head(5)
    scratch = loaded.random_init(5)
    x = torch.randn(3, 3, 64, 64)
    assert tuned.eval()(x).shape == scratch.eval()(x).shape == (3, 5)
    # The fine-tuned network starts from the pretrained body; the scratch one does not.
    assert torch.equal(tuned.features[0][0].weight, state["features.0.0.weight"])
    assert not torch.equal(scratch.features[0][0].weight, state["features.0.0.weight"])
    # The loaded body is left alone for feature extraction.
    assert isinstance(loaded.body.classifier[3], torch.nn.Identity)


def test_missing_torchvision_weights_name_the_file_and_the_fetch_command(torch_home):
    with pytest.raises(WeightsNotFound) as error:
        pretrained.load({"torchvision": "resnet50", "weights": "IMAGENET1K_V1"})
    message = str(error.value)
    assert str(torch_home / "hub" / "checkpoints" / "resnet50-0676ba61.pth") in message
    assert "get_weight('ResNet50_Weights.IMAGENET1K_V1').get_state_dict()" in message


TIMM_FAMILIES = {  # the timm networks of config/kornblith2019.yaml, with an input size they accept
    "inception_v4": 96, "inception_resnet_v2": 96, "nasnetalarge": 96, "mobilenetv1_100": 64,
    "mobilenetv2_140": 64, "inception_v3": 96,
    # and of config/modern.yaml: a head with a hidden layer, a pooled-and-normalised head
    "mobilenetv3_large_100": 64, "convnext_tiny": 64,
}


@pytest.mark.parametrize("name", sorted(TIMM_FAMILIES))
def test_timm_pre_logits_are_the_classifier_input(name):
    import timm

    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=7).eval()
    x = torch.randn(2, 3, TIMM_FAMILIES[name], TIMM_FAMILIES[name])
    with torch.no_grad():
        logits = model(x)
        features = model.forward_head(model.forward_features(x), pre_logits=True)
        head = model.get_classifier()
        model.reset_classifier(0)
        torch.testing.assert_close(model(x), features)
    assert features.shape == (2, timm_source.pre_logits_width(model)) == (2, head.in_features)
    torch.testing.assert_close(head(features), logits, rtol=1e-4, atol=1e-5)


def _timm_reference(name):
    import timm

    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False).eval()


def test_timm_weights_load_offline_from_the_hugging_face_cache(tmp_path, monkeypatch):
    import huggingface_hub
    from safetensors.torch import save_file

    name = "mobilenetv3_small_050.lamb_in1k"
    reference = _timm_reference(name)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(WeightsNotFound, match="models--timm--mobilenetv3_small_050.lamb_in1k"):
        pretrained.load({"timm": name})
    # The cache's layout: refs/main names the snapshot that holds the file.
    repo = tmp_path / "hub" / "models--timm--mobilenetv3_small_050.lamb_in1k"
    revision = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    (repo / "snapshots" / revision).mkdir(parents=True)
    save_file(reference.state_dict(), repo / "snapshots" / revision / "model.safetensors")

    loaded = pretrained.load({"timm": name})
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.head(loaded.penultimate(x)), reference(x), rtol=1e-4, atol=1e-5)
    assert loaded.pretrained_cfg.interpolation == "bicubic" and loaded.pretrained_cfg.crop_pct == 0.875
    # timm's weights carry no top-1: timm's published result at the preprocessing used (224 px, crop 0.875).
    top1, origin = loaded.source_top1()
    assert top1 == pytest.approx(0.57918) and origin.startswith("timm's published results") and "224 px" in origin
    # And its other source properties, each with where it came from; one given by hand wins over timm's.
    found = loaded.source_properties()
    assert list(found) == ["imagenet_real_top1", "imagenet_v2_top1", "imagenet_sketch_top1", "imagenet_r_top1",
                           "imagenet_a_top1", "pretraining_data"]
    assert found["imagenet_v2_top1"] == (pytest.approx(0.4484), origin)  # results-imagenetv2-matched-frequency.csv
    assert found["pretraining_data"] == ("in1k", "timm's pretrained tag")
    given = pretrained.load({"timm": name, "source_properties": {"imagenet_v2_top1": 0.5, "pretraining_data": "x"}})
    assert given.source_properties()["imagenet_v2_top1"] == (0.5, "config")
    assert given.source_properties()["pretraining_data"] == ("x", "config")
    assert loaded.with_new_head(3).eval()(x).shape == (2, 3)


def test_timm_weights_from_a_local_file(tmp_path):
    name = "mobilenetv3_small_050.lamb_in1k"
    reference = _timm_reference(name)
    path = tmp_path / "weights.pth"
    torch.save(reference.state_dict(), path)
    loaded = pretrained.load({"timm": name, "weights_file": str(path), "source_top1": 0.57})
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.head(loaded.penultimate(x)), reference(x), rtol=1e-4, atol=1e-5)
    assert loaded.info.weights_file == str(path)
    with pytest.raises(WeightsNotFound, match="missing.pth"):
        pretrained.load({"timm": name, "weights_file": str(tmp_path / "missing.pth")})


def test_timm_published_top1_is_looked_up_at_the_preprocessing_used():
    def published_top1(name, img_size, crop_pct):
        return timm_source.published_results(name, img_size, crop_pct).get("top1")

    assert published_top1("inception_v3.tf_in1k", 299, 0.875) == pytest.approx(0.77866)
    # Published at two resolutions: each is the number of its own preprocessing.
    assert published_top1("mobilenetv1_100.ra4_e3600_r224_in1k", 224, 0.875) == pytest.approx(0.75388)
    assert published_top1("mobilenetv1_100.ra4_e3600_r224_in1k", 256, 0.95) == pytest.approx(0.76088)
    # No result at another preprocessing, or for weights timm does not publish: no number rather than a guess.
    assert published_top1("inception_v3.tf_in1k", 224, 0.875) is None
    assert published_top1("inception_v3.my_own_in1k", 299, 0.875) is None


def test_timm_results_table_is_written_from_timms_results_folder(tmp_path):
    # timm's results/ layout: a file per test set, one row per (model, img_size, crop_pct), more columns than read.
    header = "model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation"
    rows = {"a.tag_in1k": [("224", "0.875"), ("288", "1.000")], "b.tag_in1k": [("224", "0.900")]}
    for i, (column, name) in enumerate(timm_source.RESULTS_FILES.items()):
        lines = [header] + [f"{model},{size},{60 + i}.500,0,0,0,\"1,013.01\",{crop},bicubic"
                            for model, preprocessings in rows.items() for size, crop in preprocessings
                            # timm evaluated b on ImageNet-A not at all
                            if not (model == "b.tag_in1k" and column == "imagenet_a_top1")]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    out = tmp_path / "results.csv"
    table = timm_source.write_results_table(tmp_path, out)
    assert list(table.columns) == ["model", "img_size", "crop_pct", *timm_source.RESULTS_FILES]
    assert len(table) == 3 and table["crop_pct"].tolist() == ["0.875", "1.000", "0.900"]  # as timm wrote them
    written = out.read_text().splitlines()
    assert written[1] == "a.tag_in1k,224,0.875,60.500,61.500,62.500,63.500,64.500,65.500"
    assert written[3] == "b.tag_in1k,224,0.900,60.500,61.500,62.500,63.500,64.500,"  # no ImageNet-A row: empty
    duplicated = (tmp_path / "results-sketch.csv").read_text().splitlines()
    (tmp_path / "results-sketch.csv").write_text("\n".join(duplicated + duplicated[1:2]) + "\n")
    with pytest.raises(ValueError, match="results-sketch.csv: a \\(model, img_size, crop_pct\\) appears twice"):
        timm_source.write_results_table(tmp_path, out)


def test_timm_other_test_sets_are_looked_up_like_top1():
    # The shipped table: every test set of a tag at its preprocessing, in fractions; ImageNet-A not published for
    # torchvision's ResNet-50 weights in timm: absent, not zero.
    assert list(timm_source.RESULTS_FILES) == ["top1", *SOURCE_ACCURACIES]
    found = timm_source.published_results("inception_v3.tf_in1k", 299, 0.875)
    assert found == pytest.approx({"top1": 0.77866, "imagenet_real_top1": 0.84136, "imagenet_v2_top1": 0.663,
                                   "imagenet_sketch_top1": 0.27782, "imagenet_r_top1": 0.39377,
                                   "imagenet_a_top1": 0.10853})
    assert set(timm_source.published_results("resnet50.tv_in1k", 224, 0.875)) == {
        "top1", "imagenet_real_top1", "imagenet_v2_top1", "imagenet_sketch_top1", "imagenet_r_top1"}
    assert timm_source.published_results("inception_v3.tf_in1k", 224, 0.875) == {}


@pytest.mark.parametrize("name, data", [
    ("resnet50.a1_in1k", "in1k"), ("vit_base_patch16_224.augreg2_in21k_ft_in1k", "in21k+in1k"),
    ("convnext_base.clip_laion2b_augreg_ft_in12k_in1k", "laion2b+in12k+in1k"),
    ("eva02_large_patch14_448.mim_m38m_ft_in22k_in1k", "m38m+in22k+in1k"),
    ("resnext101_32x8d.fb_swsl_ig1b_ft_in1k", "ig1b+in1k"), ("eva_giant_patch14_336.clip_ft_in1k", "clip+in1k"),
    ("tf_efficientnet_b0.ns_jft_in1k", "jft+in1k"), ("beit_base_patch16_224.in22k_ft_in22k_in1k", "in22k+in1k"),
    ("inception_v3", "in1k")])
def test_timm_pretraining_data_is_read_from_the_tag(name, data):
    assert timm_source.pretraining_data(name) == data


def test_every_network_of_the_modern_config_has_every_published_property():
    import timm
    import yaml

    from workflow_runs import ROOT

    models = yaml.safe_load((ROOT / "config" / "modern.yaml").read_text())["models"]
    assert len(models) == 20 and all(set(spec) == {"timm"} for spec in models.values())
    data = set()
    for spec in models.values():
        cfg = timm.models.get_pretrained_cfg(spec["timm"]).to_dict()
        found = timm_source.published_results(spec["timm"], cfg["input_size"][-1], cfg["crop_pct"])
        assert list(found) == list(timm_source.RESULTS_FILES), spec
        data.add(timm_source.pretraining_data(spec["timm"]))
    assert {"in1k", "in21k+in1k", "in22k+in1k", "swag+in1k", "laion2b+in12k+in1k", "openai+in1k"} <= data


def test_every_timm_network_of_the_paper_config_has_a_published_top1():
    import timm
    import yaml

    from workflow_runs import ROOT

    models = yaml.safe_load((ROOT / "config" / "kornblith2019.yaml").read_text())["models"]
    names = [spec["timm"] for spec in models.values() if "timm" in spec]
    assert len(names) == 6
    for name in names:
        cfg = timm.models.get_pretrained_cfg(name).to_dict()
        top1 = timm_source.published_results(name, cfg["input_size"][-1], cfg["crop_pct"]).get("top1")
        assert 0.7 < top1 < 0.85, name


def test_a_spec_names_exactly_one_source():
    with pytest.raises(ValueError, match="exactly one of"):
        pretrained.load({"torchvision": "resnet50", "timm": "resnet50"})
    with pytest.raises(ValueError, match="timm has no model"):
        pretrained.load({"timm": "not_a_model.tag"})


def test_zoo_record_measures_top1_on_an_imagenet_folder(tmp_path):
    from PIL import Image

    from transferstudy.io import read_json

    name = "mobilenetv3_small_050.lamb_in1k"
    reference = _timm_reference(name)
    weights = tmp_path / "weights.pth"
    torch.save(reference.state_dict(), weights)
    spec = {"timm": name, "weights_file": str(weights)}
    with pytest.raises(ValueError, match="no source top-1; set source_top1"):
        zoo.describe(spec, tmp_path / "none.json")
    # One small image per synset (1,000 directories, sorted names = class indices).
    folder = tmp_path / "val"
    rng = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (1000, 12, 16, 3), generator=rng, dtype=torch.uint8).numpy()
    for k in range(1000):
        (folder / f"n{k:08d}").mkdir(parents=True)
        Image.fromarray(pixels[k]).save(folder / f"n{k:08d}" / "a.png")
    record = zoo.describe(spec, tmp_path / "record.json", model_name="mine", imagenet_val=folder,
                                 batch_size=200)
    loaded = pretrained.load(spec)
    x = torch.stack([pretrained_eval(loaded, pixels[k]) for k in range(1000)])
    with torch.no_grad():
        expected = (reference(x).argmax(1) == torch.arange(1000)).float().mean().item()
    assert record["source_top1"] == pytest.approx(expected) and "measured on 1000 images" in record["source_top1_from"]
    on_disk = read_json(tmp_path / "record.json")
    assert on_disk["model"] == "mine" and on_disk["checkpoint_sha256"] == loaded.info.sha256
    # The record stands for the network wherever a checkpoint path is accepted.
    assert pretrained.load(tmp_path / "record.json").num_features == loaded.num_features
    with pytest.raises(ValueError, match="3 class directories, but the network has 1000 outputs"):
        small = tmp_path / "small"
        for k in range(3):
            (small / f"n{k}").mkdir(parents=True)
        zoo.measure_top1(loaded, small)


def pretrained_eval(loaded, pixels):
    from transferstudy.data import images
    from transferstudy.data.images import normalize

    x = images.eval_transform(loaded.pretrained_cfg)(torch.from_numpy(pixels).permute(2, 0, 1))
    cfg = loaded.pretrained_cfg
    return normalize(x[None], cfg.mean, cfg.std)[0]
