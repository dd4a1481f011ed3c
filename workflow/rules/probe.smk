# The logistic-regression setting: the probe on each (model, dataset)'s features.
rule probe:
    input:
        "results/features/{model}/{dataset}.h5",
    output:
        result="results/logistic_regression/{model}/{dataset}.json",
        predictions="results/predictions/logistic_regression/{model}/{dataset}.h5",
    log:
        "logs/probe/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/probe/{model}/{dataset}.tsv"
    conda:
        CONDA_ENV
    threads: STUDY.options.threads
    resources:
        mem_mb=estimated("mem_mb", "probe"),
        runtime=estimated("runtime", "probe"),
        attempt=attempt_number,
        gpu=GPUS,
    params:
        code=library_code("probe.py"),
        solver=STUDY.probe.as_dict(),
        device=STUDY.options.device,
    script:
        "../scripts/probe.py"
