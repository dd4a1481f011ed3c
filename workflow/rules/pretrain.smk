rule pretrain:
    input:
        source=f"results/data/{SOURCE}.h5",
    output:
        checkpoint="results/models/{model}/checkpoint.pt",
        metrics="results/models/{model}/pretrain.json",
    params:
        arch=model_arch,
        recipe=model_recipe,
        seed=config["seed"],
        device=config["device"],
    log:
        "logs/pretrain/{model}.log",
    benchmark:
        "results/benchmarks/pretrain/{model}.tsv"
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPUS,
    conda:
        CONDA_ENV
    script:
        "../scripts/pretrain.py"
