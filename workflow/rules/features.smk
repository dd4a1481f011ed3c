rule extract_features:
    input:
        checkpoint="results/models/{model}/checkpoint.pt",
        dataset="results/data/{dataset}.h5",
    output:
        "results/features/{model}/{dataset}.h5",
    params:
        batch_size=config["features"]["batch_size"],
        device=config["device"],
    log:
        "logs/features/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/features/{model}/{dataset}.tsv"
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPUS,
    conda:
        CONDA_ENV
    script:
        "../scripts/extract_features.py"
