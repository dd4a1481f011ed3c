rule probe:
    input:
        "results/features/{model}/{dataset}.h5",
    output:
        "results/probe/{model}/{dataset}.json",
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
