rule dataset:
    output:
        "results/data/{dataset}.h5",
    params:
        options=dataset_options,
        seed=config["seed"],
        split=config["split"],
    log:
        "logs/dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/dataset/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        CONDA_ENV
    script:
        "../scripts/make_dataset.py"
