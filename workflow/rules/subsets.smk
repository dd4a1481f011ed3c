# Training-set-size curves (config `subsets`): each subset is a dataset of the study, cut from the full
# dataset's file (for the training arms) and from each network's features file (for the probe); the probe,
# fine-tune and scratch rules then run on it as on any dataset.
localrules:
    subsets_tables,


rule subset_dataset:
    input:
        "results/data/{base}.h5",
    output:
        "results/data/{base}.{shots}shot.seed{seed}.h5",
    log:
        "logs/subsets/data/{base}.{shots}shot.seed{seed}.log",
    wildcard_constraints:
        base=BUILT_DATASETS,
        shots=r"\d+",
        seed=r"\d+",
    conda:
        CONDA_ENV
    params:
        code=library_code("subset.py"),
    script:
        "../scripts/subset.py"


rule subset_features:
    input:
        "results/features/{model}/{base}.h5",
    output:
        "results/features/{model}/{base}.{shots}shot.seed{seed}.h5",
    log:
        "logs/subsets/features/{model}/{base}.{shots}shot.seed{seed}.log",
    wildcard_constraints:
        base=BUILT_DATASETS,
        shots=r"\d+",
        seed=r"\d+",
    conda:
        CONDA_ENV
    params:
        code=library_code("subset.py"),
    script:
        "../scripts/subset.py"


rule subsets_tables:
    input:
        results=subset_results,
        accuracy="results/tables/accuracy.csv",
    output:
        subsets=report(
            "results/tables/subsets.csv",
            caption="../report/subsets.rst",
            category="Tables",
        ),
        summary=report(
            "results/tables/subsets_summary.csv",
            caption="../report/subsets_summary.rst",
            category="Tables",
        ),
        correlation=report(
            "results/tables/subsets_correlation.csv",
            caption="../report/subsets_correlation.rst",
            category="Tables",
        ),
    log:
        "logs/tables/subsets.log",
    conda:
        CONDA_ENV
    params:
        code=library_code("subsets_tables.py"),
        seed=STUDY.analysis.seed,
    script:
        "../scripts/subsets_tables.py"
