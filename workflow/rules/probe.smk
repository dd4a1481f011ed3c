rule probe:
    input:
        "results/features/{model}/{dataset}.h5",
    output:
        result="results/probe/{model}/{dataset}.json",
        predictions="results/predictions/logistic_regression/{model}/{dataset}.h5",
    params:
        solver=config["probe"],
        device=config["device"],
    log:
        "logs/probe/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/probe/{model}/{dataset}.tsv"
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=GPUS,
    conda:
        CONDA_ENV
    script:
        "../scripts/probe.py"
