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
        examples_per_class=list(STUDY.transferability.examples_per_class),
        seeds=STUDY.transferability.seeds,
    script:
        "../scripts/transferability.py"


rule transferability_table:
    input:
        scores=transferability_results,
        probes=probe_results,
    output:
        scores=report(
            "results/tables/transferability.csv",
            caption="../report/transferability.rst",
            category="Tables",
        ),
        few_labels=report(
            "results/tables/transferability_few_labels.csv",
            caption="../report/transferability_few_labels.rst",
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
        few_labels="results/tables/transferability_few_labels.csv",
    output:
        transferability_evaluation=report(
            "results/tables/transferability_evaluation.csv",
            caption="../report/transferability_evaluation.rst",
            category="Tables",
        ),
        transferability_baselines=report(
            "results/tables/transferability_baselines.csv",
            caption="../report/transferability_baselines.rst",
            category="Tables",
        ),
        transferability_stability=report(
            "results/tables/transferability_stability.csv",
            caption="../report/transferability_stability.rst",
            category="Tables",
        ),
        transferability_few_labels_evaluation=report(
            "results/tables/transferability_few_labels_evaluation.csv",
            caption="../report/transferability_few_labels_evaluation.rst",
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
