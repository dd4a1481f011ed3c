localrules:
    check_data,


rule dataset:
    input:
        declared_dataset_files,
    output:
        "results/data/{dataset}.h5",
    log:
        "logs/dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/dataset/{dataset}.tsv"
    wildcard_constraints:
        dataset=BUILT_DATASETS,
    # First in any run: a broken dataset is found before GPU jobs are dispatched.
    priority: 100
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        code=library_code("make_dataset.py"),
        options=dataset_options,
        seed=STUDY.options.seed,
        split=dataset_split,
        unreadable=declared_unreadable,
    script:
        "../scripts/make_dataset.py"


# Every configured dataset read and checked (layout, listed files present), summarised; `snakemake check_data`
# does only this, before any GPU hour is spent. (A summary, not an input of the compute rules: a new dataset
# in the config must not make every finished job look outdated.)
rule check_data:
    input:
        target_data,
    output:
        "results/data/checked.json",
    log:
        "logs/dataset/checked.log",
    conda:
        CONDA_ENV
    params:
        code=library_code("check_data.py"),
    script:
        "../scripts/check_data.py"
