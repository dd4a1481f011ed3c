rule extract_features:
    input:
        model=model_reference,
        dataset="results/data/{dataset}.h5",
    output:
        "results/features/{model}/{dataset}.h5",
    params:
        batch_size=FEATURES["batch_size"],
        workers=FEATURES.get("workers", 0),
        amp=FEATURES.get("amp"),
        unreadable=FEATURES.get("unreadable", "error"),
        device=config["device"],
    log:
        "logs/features/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/features/{model}/{dataset}.tsv"
    threads: config["threads"] + FEATURES.get("workers", 0)
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPUS,
    conda:
        CONDA_ENV
    script:
        "../scripts/extract_features.py"
