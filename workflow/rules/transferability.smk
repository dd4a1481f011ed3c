# Transferability estimators: each (model, dataset) scored from its features without training, and the scores
# judged against the measured transfer (config `transferability`).
localrules:
    transferability_table,
    transferability_evaluation,


rule transferability:
    input:
        features="results/features/{model}/{dataset}.h5",
        own=STUDY.own_estimator_files,
    output:
        "results/transferability/{model}/{dataset}.json",
    log:
        "logs/transferability/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/transferability/{model}/{dataset}.tsv"
    conda:
        CONDA_ENV
    threads: STUDY.options.threads
    resources:
        mem_mb=estimated("mem_mb", "transferability"),
        runtime=estimated("runtime", "transferability"),
        attempt=attempt_number,
    params:
        code=library_code("transferability.py"),
        estimators=list(STUDY.transferability.estimators),
    script:
        "../scripts/transferability.py"


rule transferability_table:
    input:
        scores=transferability_results,
        probes=probe_results,
    output:
        report(
            "results/tables/transferability.csv",
            caption="../report/transferability.rst",
            category="Tables",
        ),
    log:
        "logs/tables/transferability.log",
    conda:
        CONDA_ENV
    params:
        code=library_code("transferability_table.py"),
    script:
        "../scripts/transferability_table.py"


rule transferability_evaluation:
    input:
        accuracy="results/tables/accuracy.csv",
        scores="results/tables/transferability.csv",
    output:
        report(
            "results/tables/transferability_evaluation.csv",
            caption="../report/transferability_evaluation.rst",
            category="Tables",
        ),
    log:
        "logs/tables/transferability_evaluation.log",
    conda:
        CONDA_ENV
    params:
        code=library_code("transferability_evaluation.py"),
        seed=STUDY.analysis.seed,
    script:
        "../scripts/transferability_evaluation.py"
