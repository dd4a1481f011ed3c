# The workflow's own zoo (models with `arch`): pretrained on the source dataset. On a source of image files
# (ImageNet) the job streams them through `features.workers` processes and saves a resumable state beside
# its outputs (not an output: Snakemake would delete it when the job fails).
rule pretrain:
    input:
        source=source_data,
    output:
        checkpoint="results/models/{model}/checkpoint.pt",
        metrics="results/models/{model}/pretrain.json",
    params:
        arch=model_arch,
        recipe=model_recipe,
        seed=config["seed"],
        device=config["device"],
        state=pretrain_state,
        workers=FEATURES.get("workers", 0),
        amp=FEATURES.get("amp"),
    wildcard_constraints:
        model=_alternatives(EMBEDDED_MODELS),
    log:
        "logs/pretrain/{model}.log",
    benchmark:
        "results/benchmarks/pretrain/{model}.tsv"
    threads: config["threads"] + FEATURES.get("workers", 0)
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPUS,
    conda:
        CONDA_ENV
    script:
        "../scripts/pretrain.py"


# Downloaded networks (torchvision, timm): check the weights are here and record their source top-1
# (measured on source.imagenet_val when given), preprocessing and hash.
rule pretrained_model:
    output:
        "results/models/{model}/pretrain.json",
    params:
        spec=model_spec,
        imagenet_val=config.get("source", {}).get("imagenet_val"),
        batch_size=FEATURES["batch_size"],
        workers=FEATURES.get("workers", 0),
        device=config["device"],
    wildcard_constraints:
        model=_alternatives(ZOO_MODELS),
    log:
        "logs/pretrained_model/{model}.log",
    benchmark:
        "results/benchmarks/pretrained_model/{model}.tsv"
    threads: config["threads"] + FEATURES.get("workers", 0)
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=GPUS if config.get("source", {}).get("imagenet_val") else 0,
    conda:
        CONDA_ENV
    script:
        "../scripts/pretrained_model.py"
