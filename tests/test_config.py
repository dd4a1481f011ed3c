import argparse
import copy
import dataclasses
import re
import subprocess
import sys

import pytest
import yaml

from workflow_runs import ROOT, run_snakemake
from transferstudy import config, schema
from transferstudy.nets.sources import registry
from transferstudy.cli import STAGES
from transferstudy.config import ConfigError
from transferstudy.nets import zoo
from transferstudy.settings import ESTIMATORS, SOURCE_PROPERTIES, TRAINING_ARMS
from transferstudy.study.plan import Study

@pytest.mark.parametrize("change, message", [
    (lambda c: c["models"].__setitem__("big", {"arch": "resnet9000"}),
     "models.big: arch = 'resnet9000' is not a known architecture; valid: mini_convnet"),
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
def test_check_config_names_the_key_and_the_valid_choices(change, message, config_with):
    # What the plan checks, then what the first job (check_models) checks with torchvision and timm.
    with pytest.raises(ConfigError, match=message):
        study = Study(config_with(change))
        zoo.check_models(study.zoo.models, study.zoo.recipes)


def test_default_config_passes(default_config):
    study = Study(copy.deepcopy(default_config))
    checked = zoo.check_models(study.zoo.models, study.zoo.recipes)
    assert set(checked) == set(default_config["models"]) and checked["mini_vgg"]["switches"] == "none"


def test_training_arms_are_enabled_by_their_section(config_with, default_config):
    assert list(Study(default_config).arms) == ["finetune", "scratch"]
    assert list(Study(config_with(lambda c: c["scratch"].__setitem__("enabled", False))).arms) == ["finetune"]
    assert list(Study(config_with(lambda c: c.pop("finetune"))).arms) == ["scratch"]


def test_a_key_given_twice_in_a_config_file_is_refused_by_the_workflow_and_the_commands(tmp_path):
    configfile = tmp_path / "twice.yaml"
    configfile.write_text("probe:\n  num_penalties: 5\nseed: 1\nprobe:\n  num_penalties: 7\n")
    message = f"{configfile}: key 'probe' is given twice (lines 1 and 4); YAML would keep only the last"
    with pytest.raises(ConfigError, match=re.escape(message)):
        schema.load_config([ROOT / "config" / "config.yaml", configfile])
    result = run_snakemake("-n", workdir=tmp_path / "run", configfile=configfile)
    assert result.returncode != 0 and message in result.stdout + result.stderr
    nested = tmp_path / "nested.yaml"
    nested.write_text("probe:\n  num_penalties: 5\n  num_penalties: 7\n")
    with pytest.raises(ConfigError, match="key 'num_penalties' is given twice \\(lines 2 and 3\\)"):
        schema.read_config_file(nested)


@pytest.mark.parametrize("change, expected", [
    (lambda c: c.__setitem__("threads", "two"), ["threads", "'two' is not of type 'integer'"]),
    (lambda c: c.pop("datasets"), ["the configuration lacks the required key(s) 'datasets'"]),
    (lambda c: c["pretrain"].__setitem__("epoch", 3), ["pretrain has unknown key(s) 'epoch'; valid: ", "epochs"]),
    (lambda c: c.__setitem__("probee", {}), ["unknown key(s) 'probee'; valid: ablation, analysis"]),
    (lambda c: c["models"].__setitem__("m", {"arch": "mini_vgg", "pretrian": {}}),
     ["models.m has unknown key(s) 'pretrian'; valid: arch, pretrain"]),
    (lambda c: c["models"].__setitem__("m", {"archh": "mini_vgg"}),
     ["models.m must have exactly one of the keys arch, torchvision, timm, pretrainedmodels, python"]),
    (lambda c: c["finetune"]["recipe"].__setitem__("stepz", 3), ["finetune.recipe has unknown key(s) 'stepz'"]),
    (lambda c: c["models"].__setitem__("sq", {"torchvision": "squeezenet1_0"}), ["models.sq: torchvision model "
                                                                                "'squeezenet1_0': no known penultimate"]),
    (lambda c: c["finetune"].__setitem__("lr", [0.1, 50]), ["finetune", "50 is greater than the maximum of 10"]),
])
def test_workflow_stops_before_any_job_with_the_key_named(tmp_path, change, expected, config_with):
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(yaml.safe_dump(config_with(change)))
    result = run_snakemake("-n", workdir=tmp_path / "run", configfile=configfile)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for text in expected:
        assert text in output, output[-2000:]
    assert "Job stats" not in output
    assert len(output.splitlines()) < 12, "the key is named in a few lines, not a dump of the schema"


SCHEMA_FILE = ROOT / "workflow" / "schemas" / "config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_FILE.read_text())


def test_the_workflow_schema_is_the_one_the_settings_groups_generate():
    assert SCHEMA_FILE.read_text() == schema.schema_text(), "stale: run `make schema` after editing config.py"


def test_config_readmes_key_table_is_the_one_the_settings_groups_generate():
    readme = (ROOT / "config" / "README.md").read_text()
    assert schema.with_key_table(readme) == readme, "stale: run `make schema` after editing config.py"


def test_the_notes_on_the_keys_name_only_keys_that_exist():
    readme = (ROOT / "config" / "README.md").read_text()
    keys = {line.split("`")[1] for line in schema.key_table().splitlines()[2:]}
    sections = {key.rsplit(".", 1)[0] for key in keys} | {key.split(".")[0] for key in keys} | set(TRAINING_ARMS)
    builder_options = {"datasets.<name>", "datasets.<name>.download"}  # a registered dataset's, not a group's
    notes = readme[readme.index("## Notes on the keys"):]
    named = []
    for row in notes.split("\n| key | notes |")[1].splitlines()[2:]:
        if not row.startswith("| `"):
            break
        previous = ""
        for token in row.split("|")[1].split("`")[1::2]:
            if token.startswith("."):
                token = previous.rsplit(".", 1)[0] + token
            elif "." not in token and previous and token not in sections:
                token = previous.rsplit(".", 1)[0] + "." + token
            named.append(token)
            previous = token
    assert named and not [key for key in named if key not in keys | sections | builder_options]


def test_the_generated_schema_holds_each_groups_keys_defaults_ranges_and_required_keys():
    arm = SCHEMA["$defs"]["training_arm"]
    assert arm["properties"]["lr"]["items"] == {"type": "number", "exclusiveMinimum": 0, "maximum": 10}
    steps = arm["properties"]["recipe"]["properties"]["steps"]
    assert (steps["type"], steps["minimum"], steps["default"]) == ("integer", 1, config.ArmRecipe.default("steps"))
    assert arm["else"] == {"required": ["lr", "weight_decay"]} and "required" not in arm
    probe = SCHEMA["properties"]["probe"]["properties"]
    assert probe["penalty_min"]["default"] == 1e-6 and probe["penalty_min"]["exclusiveMinimum"] == 0
    assert probe["dtype"]["enum"] == ["float32", "float64"]
    alternatives = SCHEMA["properties"]["models"]["additionalProperties"]["oneOf"]
    assert [a["required"] for a in alternatives] == [[key] for key in registry.SOURCES]
    assert SCHEMA["properties"]["subsets"]["properties"]["arms"]["default"] == []


def test_every_source_of_networks_has_a_spec_group():
    from transferstudy.nets.sources import pretrainedmodels

    assert list(config.MODEL_SPECS) == list(registry.SOURCES)
    ports = next(f for f in dataclasses.fields(config.PretrainedmodelsSpec) if f.name == "pretrainedmodels")
    assert set(ports.metadata["choices"]) == set(pretrainedmodels.PORTS)


def test_source_properties_by_hand_are_the_settings_names_and_checked_by_key():
    given = [f.name for f in dataclasses.fields(config.SourceProperties)]
    assert ["source_top1", *given[:-1], "params", "flops", given[-1]] == list(SOURCE_PROPERTIES)
    spec = {"timm": "resnet10t.c3_in1k", "source_properties": {"imagenet_v2_top1": 0.6, "pretraining_data": "in1k"}}
    assert config.TimmSpec.from_mapping(spec, "models.net").source_properties.imagenet_v2_top1 == 0.6
    with pytest.raises(ConfigError, match=r"models.net.source_properties.imagenet_v2_top1 = 60 must be at most 1"):
        config.TimmSpec.from_mapping({**spec, "source_properties": {"imagenet_v2_top1": 60}}, "models.net")
    with pytest.raises(ConfigError, match=r"models.net.source_properties has unknown key\(s\) \['params'\]; valid: "):
        config.TimmSpec.from_mapping({**spec, "source_properties": {"params": 5}}, "models.net")
    with pytest.raises(ConfigError, match=r"models.net has unknown key\(s\) \['source_properties'\]"):
        config.EmbeddedSpec.from_mapping({"arch": "mini_vgg", "source_properties": {}}, "models.net")


def test_the_schema_lists_the_estimators_the_library_has():
    node = SCHEMA["properties"]["transferability"]["properties"]["estimators"]
    assert node["items"]["anyOf"][0]["enum"] == node["default"] == list(ESTIMATORS)


@pytest.mark.parametrize("group, mapping, message", [
    (config.PretrainRecipe, {"lr": 0}, "pretrain.lr = 0 must be greater than 0"),
    (config.PretrainRecipe, {"epochs": 2.5}, "pretrain.epochs = 2.5 is not an integer"),
    (config.PretrainRecipe, {"augment": "yes"}, "pretrain.augment = 'yes' is not true or false"),
    (config.PretrainRecipe, {"epoch": 3}, r"pretrain has unknown key\(s\) \['epoch'\]; valid: epochs, batch_size"),
    (config.ProbeSolver, {"dtype": "float16"}, "probe.dtype = 'float16' is not valid; valid: float32, float64"),
    (config.FeatureOptions, {"unreadable": "ignore"}, "features.unreadable = 'ignore' is not valid; valid: error, skip"),
    (config.TsneOptions, {}, "ablation.tsne needs dataset"),
    (config.TrainingArm, {"lr": [0.1, 0.1], "weight_decay": [0]}, r"<arm>.lr = \[0.1, 0.1\] lists a value twice"),
    (config.TrainingArm, {"lr": [], "weight_decay": [0]}, "<arm>.lr = .* must be a non-empty list"),
    (config.TrainingArm, {"lr": [0.1], "weight_decay": [0], "recipe": {"steps": 0}},
     "<arm>.recipe.steps = 0 must be at least 1"),
    (config.TrainingArm, {"lr": [0.1], "weight_decay": [0], "search": {"method": "hyperband"}},
     "<arm>.search.method = 'hyperband' is not valid; valid: grid, successive_halving"),
    (config.TrainingArm, {"lr": [0.1], "weight_decay": [0], "search": {"eta": 1}},
     "<arm>.search.eta = 1 must be at least 2"),
    (config.TransferabilityOptions, {"estimators": ["logme", "magic"]},
     r"transferability.estimators lists \['magic'\]; valid: logme, leep, nce, hscore"),
    (config.TransferabilityOptions, {"estimators": []}, "transferability.estimators = .* must be a non-empty list"),
    (config.TransferabilityOptions, {"estimators": ["logme", {"python": "s.py:f", "nmae": "g"}]},
     r"transferability.estimators\[1\] = .*: an estimator is a name \(logme, .*\) or \{python: 'file.py:function', "
     r"name: optional\}"),
    (config.TransferabilityOptions, {"estimators": [{"python": "s.py"}]},
     r"transferability.estimators\[0\].python = 's.py': give 'path/to/file.py:function'"),
    (config.TransferabilityOptions, {"estimators": [{"python": "s.py:logme"}]},
     r"transferability.estimators\[0\]: the name 'logme' is a built-in estimator's"),
    (config.TransferabilityOptions, {"estimators": [{"python": "a.py:f"}, {"python": "b.py:f"}]},
     r"transferability.estimators lists 'f' twice"),
    (config.SubsetOptions, {"examples_per_class": [5, 0]},
     "subsets.examples_per_class holds 0; sizes are whole numbers of at least 1"),
    (config.TransferabilityOptions, {"examples_per_class": [1, 5]},
     r"transferability.examples_per_class holds 1; sizes are whole numbers of at least 2 \(the scores' within-class"),
    (config.TransferabilityOptions, {"examples_per_class": "5"},
     "transferability.examples_per_class = '5' must be a list"),
    (config.SubsetOptions, {"examples_per_class": [5, 5]}, r"subsets.examples_per_class = \[5, 5\] lists a size twice"),
    (config.SubsetOptions, {"arms": ["logistic_regression"]}, r"subsets.arms lists \['logistic_regression'\]; valid"),
    (config.ProbeSolver, {"num_penalties": 4500}, "probe.num_penalties = 4500 must be at most 1000"),
    (config.FeatureOptions, {"workers": 1000}, "features.workers = 1000 must be at most 256"),
    (config.SplitOptions, {"seed": 2**40}, f"split.seed = {2**40} must be at most {2**32 - 1}"),
    (config.TrainingArm, {"lr": [0.1], "weight_decay": [0], "search": {"rungs": 50}},
     "<arm>.search.rungs = 50 must be at most 10"),
])
def test_a_settings_group_refuses_bad_values_naming_the_key(group, mapping, message):
    with pytest.raises(ConfigError, match=message):
        group.from_mapping(mapping)


def test_a_disabled_section_needs_nothing_but_enabled_false(config_with):
    disabled = config_with(lambda c: c.update(finetune={"enabled": False}, ablation={"enabled": False}))
    schema.validate_config(disabled, SCHEMA)
    study = Study(disabled)
    assert "finetune" not in study.arms and "scratch" in study.arms and study.zoo.ablation.options is None
    with pytest.raises(ConfigError, match="finetune lacks the required key"):
        schema.validate_config(config_with(lambda c: c.update(finetune={"enabled": True})), SCHEMA)
    with pytest.raises(ConfigError, match="finetune.enabled = 'no' is not true or false"):
        Study(config_with(lambda c: c.update(finetune={"enabled": "no"})))
    with pytest.raises(ConfigError, match="ablation.switches = 3 is not a mapping"):
        Study(config_with(lambda c: c["ablation"].update(enabled=True, switches=3)))


def test_a_grid_job_trains_the_configs_exact_values_not_their_text_in_its_path(config_with):
    study = Study(config_with(lambda c: c["finetune"].update(lr=[0.0123456789, 0.1], weight_decay=[0, 1e-4])))
    assert ("0.0123457", "0.0001") in study.arms.grid("finetune")
    assert study.arms.grid_point("finetune", "0.0123457", "0.0001") == {"lr": 0.0123456789, "weight_decay": 1e-4}


def test_settings_groups_fill_defaults_and_give_the_commands_their_flags():
    recipe = config.PretrainRecipe.from_mapping({"lr": 1})
    assert recipe.lr == 1.0 and isinstance(recipe.lr, float) and recipe.epochs == 8
    assert config.PretrainRecipe.of(recipe) is recipe and config.PretrainRecipe.of(None) == config.PretrainRecipe()
    parser = argparse.ArgumentParser()
    config.ProbeSolver.add_arguments(parser)
    args = parser.parse_args(["--num-penalties", "5", "--no-whiten"])
    assert config.ProbeSolver.from_arguments(args) == config.ProbeSolver(num_penalties=5, whiten=False)
    with pytest.raises(ConfigError, match="probe.tol = -1.0 must be greater than 0"):
        config.ProbeSolver(tol=-1.0)


def test_grid_values_that_print_alike_are_refused(config_with):
    with pytest.raises(ConfigError, match=r"finetune.lr = \[0.1, 0.1000001\]: values that print alike"):
        Study(config_with(lambda c: c["finetune"].__setitem__("lr", [0.1, 0.1000001])))


def test_a_missing_weights_file_is_found_by_the_first_job(tmp_path, monkeypatch, config_with):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    study = Study(config_with(lambda c: c["models"].__setitem__("r18", {"torchvision": "resnet18"})))
    with pytest.raises(ConfigError, match=r"models.r18: torchvision weights .* are expected at .*resnet18-"):
        zoo.check_models(study.zoo.models, study.zoo.recipes)


def test_an_architecture_torchvision_lacks_stops_the_run_at_its_first_job(tmp_path, config_with):
    # `arch` beyond the embedded zoo names a torchvision architecture, which planning (no torch) cannot check:
    # the first job does, before any network is trained.
    configfile = tmp_path / "typo.yaml"
    configfile.write_text(yaml.safe_dump(config_with(lambda c: c["models"]["mini_vgg"].__setitem__("arch", "vgg99"))))
    result = run_snakemake("--cores", "1", workdir=tmp_path / "run", configfile=configfile)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "models.mini_vgg: arch = 'vgg99' is not a known architecture" in output
    assert "rule pretrain:" not in output and "rule check_models:" in output


def test_the_command_lists_every_stage_and_runs_one(tmp_path):
    listed = subprocess.run([sys.executable, "-m", "transferstudy"], capture_output=True, text=True)
    assert listed.returncode == 0 and all(stage in listed.stdout for stage in STAGES)
    helped = subprocess.run([sys.executable, "-m", "transferstudy", "probe", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "--num-penalties" in helped.stdout and "(default: 45)" in helped.stdout
    unknown = subprocess.run([sys.executable, "-m", "transferstudy", "prob"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "unknown stage 'prob'" in unknown.stderr


@pytest.mark.parametrize("stage", list(STAGES))
def test_every_stage_describes_its_options(stage, capsys, monkeypatch):
    from transferstudy.cli import main

    monkeypatch.setattr(sys, "argv", list(sys.argv))  # main names the program in sys.argv[0]
    with pytest.raises(SystemExit) as stopped:
        main([stage, "--help"])
    assert stopped.value.code == 0 and capsys.readouterr().out.startswith(f"usage: transferstudy {stage}")


def test_nested_config_overrides_given_as_text_are_read_as_the_schemas_types():
    # Snakemake passes the scalars of a nested --config value as text.
    given = {"probe": {"num_penalties": "5", "standardize": "false", "penalty_min": "1e-3"},
             "ablation": {"enabled": "true"}, "finetune": {"lr": ["0.1", "0.01"], "amp": "true"},
             "models": {"net": {"timm": "resnet10t.c3_in1k", "source_top1": "0.7"}},
             "datasets": {"mine": {"format": "csv", "manifest": "m.csv", "metric": "top1", "classes": ["1", "2"],
                                   "test_fraction": "0.25"}, "textures": {"train_per_class": "10"}},
             "seed": 3}
    out = schema.coerce_text_values(given, SCHEMA)
    assert out["probe"] == {"num_penalties": 5, "standardize": False, "penalty_min": 0.001}
    assert out["ablation"]["enabled"] is True and out["finetune"] == {"lr": [0.1, 0.01], "amp": True}
    assert out["models"]["net"]["source_top1"] == 0.7
    assert out["datasets"]["mine"]["classes"] == ["1", "2"] and out["datasets"]["mine"]["test_fraction"] == 0.25
    assert out["datasets"]["textures"]["train_per_class"] == "10"  # builder options: the builder's to check
    unreadable = {"probe": {"num_penalties": "many"}}
    assert schema.coerce_text_values(unreadable, SCHEMA) == unreadable


def test_a_nested_override_on_the_command_line_is_accepted(tmp_path):
    result = run_snakemake("-n", "--config", "probe={num_penalties: 5, standardize: false}",
                           workdir=tmp_path, configfile=ROOT / "config" / "config.yaml")
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]
    refused = run_snakemake("-n", "--config", "probe={num_penalties: many}", workdir=tmp_path,
                            configfile=ROOT / "config" / "config.yaml")
    assert refused.returncode != 0 and "'many' is not of type 'integer'" in refused.stdout + refused.stderr


def test_a_score_of_ones_own_is_planned_with_its_file_as_an_input(config_with, tmp_path):
    scores = tmp_path / "my_scores.py"
    scores.write_text("def spread(features, labels):\n    return 1.0\n")
    own = {"python": f"{scores}:spread"}
    study = Study(config_with(lambda c: c["transferability"].update(estimators=["logme", own])))
    assert study.transferability.estimators == ("logme", {"name": "spread", "python": f"{scores}:spread"})
    assert study.own_estimator_files == [str(scores)]
    schema.validate_config(config_with(lambda c: c["transferability"].update(estimators=["logme", own])), SCHEMA)
    missing = {"python": f"{tmp_path}/nowhere.py:spread"}
    with pytest.raises(ConfigError, match=r"transferability.estimators\[1\].python = '.*nowhere.py:spread': file "
                                          r".*nowhere.py .* not found"):
        Study(config_with(lambda c: c["transferability"].update(estimators=["logme", missing])))
