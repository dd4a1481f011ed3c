rule extract_features:
    input:
        model=model_reference,
        dataset="results/data/{dataset}.h5",
    output:
        "results/features/{model}/{dataset}.h5",
    log:
        "logs/features/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/features/{model}/{dataset}.tsv"
    wildcard_constraints:
        dataset=BUILT_DATASETS,
    conda:
        CONDA_ENV
    threads: FEATURE_THREADS
    resources:
        mem_mb=estimated("mem_mb", "extract_features"),
        runtime=estimated("runtime", "extract_features"),
        attempt=attempt_number,
        workers=STUDY.features.workers,
        gpu=GPUS,
    params:
        code=library_code("extract_features.py"),
        options=STUDY.features.result_options(),
        device=STUDY.options.device,
    script:
        "../scripts/extract_features.py"
