# The study's cost plan (transferstudy.study.cost; `transferstudy plan` prints the same): one row per job type
# and (model, dataset) with its jobs, images, FLOPs, bytes written, peak memory and device-hours. Not part of
# `all`: `snakemake results/plan.csv` writes it before any other job runs (datasets already built count
# with their exact sizes).


localrules:
    cost_plan,


rule cost_plan:
    output:
        "results/plan.csv",
    log:
        "logs/plan.log",
    conda:
        CONDA_ENV
    params:
        code=library_code("cost_plan.py"),
        data_dir="results/data",
    script:
        "../scripts/cost_plan.py"
