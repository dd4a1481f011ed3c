localrules:
    check_models,


# Every model of the study checked against what only the libraries and this machine know (model and weights
# names, weights files, builder functions, the switches a family takes), before any network is trained: a summary, run
# first, that no compute rule takes as input (a new model must not make every finished job look outdated).
rule check_models:
    output:
        "results/models/checked.json",
    log:
        "logs/check_models.log",
    priority: 200
    conda:
        CONDA_ENV
    params:
        code=library_code("check_models.py"),
        specs=STUDY.zoo.models,
        recipes={name: recipe.as_dict() for name, recipe in STUDY.zoo.recipes.items()},
    script:
        "../scripts/check_models.py"


# The workflow's own zoo (models with `arch`): pretrained on the source dataset. On a source of image files
# (ImageNet) the job streams them through `features.workers` processes and saves a resumable state beside
# its outputs (not an output: Snakemake would delete it when the job fails).
rule pretrain:
    input:
        source=source_data,
    output:
        checkpoint="results/models/{model}/checkpoint.pt",
        metrics="results/models/{model}/pretrain.json",
    log:
        "logs/pretrain/{model}.log",
    benchmark:
        "results/benchmarks/pretrain/{model}.tsv"
    wildcard_constraints:
        model=_alternatives(STUDY.zoo.recipes),
    conda:
        CONDA_ENV
    threads: FEATURE_THREADS
    resources:
        mem_mb=estimated("mem_mb", "pretrain"),
        runtime=estimated("runtime", "pretrain"),
        attempt=attempt_number,
        workers=STUDY.features.workers,
        gpu=GPUS,
    params:
        code=library_code("pretrain.py"),
        arch=model_arch,
        recipe=model_recipe,
        seed=STUDY.options.seed,
        device=STUDY.options.device,
        state="results/models/{model}/pretrain.state.pt",
        amp=STUDY.features.amp,
    script:
        "../scripts/pretrain.py"


# Networks not pretrained here (torchvision, timm, pretrainedmodels, python): check the weights are here and
# record their source top-1 (measured on source.imagenet_val when given), preprocessing and hashes. A model of
# one's own takes its builder file and weights file as inputs, so that changing either re-runs what depends on it.
rule pretrained_model:
    input:
        model_files,
    output:
        "results/models/{model}/pretrain.json",
    log:
        "logs/pretrained_model/{model}.log",
    benchmark:
        "results/benchmarks/pretrained_model/{model}.tsv"
    wildcard_constraints:
        model=_alternatives(STUDY.zoo.downloaded),
    conda:
        CONDA_ENV
    threads: FEATURE_THREADS
    resources:
        mem_mb=estimated("mem_mb", "pretrained_model"),
        runtime=estimated("runtime", "pretrained_model"),
        attempt=attempt_number,
        workers=STUDY.features.workers,
        gpu=GPUS if STUDY.data.imagenet_val else 0,
    params:
        code=library_code("pretrained_model.py"),
        spec=model_spec,
        imagenet_val=STUDY.data.imagenet_val,
        batch_size=STUDY.features.batch_size,
        device=STUDY.options.device,
    script:
        "../scripts/pretrained_model.py"
