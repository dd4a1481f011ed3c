# Fine-tuning and training from random initialisation (settings `finetune` and `scratch`): one job per
# grid point, a selection on validation, one refit on train+val scored on test. A run keeps its resumable
# state beside its result (not a declared output, so Snakemake never deletes it) until it finishes; a job
# killed by preemption or a time limit resumes from it when run again (--rerun-incomplete).

localrules:
    select_hyperparameters,


rule train_grid_point:
    input:
        model=model_reference,
        dataset="results/data/{dataset}.h5",
    output:
        "results/{setting}/{model}/{dataset}/grid/lr{lr}_wd{wd}.json",
    params:
        run=train_options,
        state=train_state,
    log:
        "logs/{setting}/{model}/{dataset}/grid/lr{lr}_wd{wd}.log",
    benchmark:
        "results/benchmarks/{setting}/{model}/{dataset}/grid/lr{lr}_wd{wd}.tsv"
    group:
        "training"
    threads: train_threads
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=GPUS,
    conda:
        CONDA_ENV
    script:
        "../scripts/train.py"


rule select_hyperparameters:
    input:
        grid_results,
    output:
        "results/{setting}/{model}/{dataset}/selected.json",
    log:
        "logs/{setting}/{model}/{dataset}/selected.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/select_hyperparameters.py"


rule train_refit:
    input:
        model=model_reference,
        dataset="results/data/{dataset}.h5",
        selection="results/{setting}/{model}/{dataset}/selected.json",
    output:
        result="results/{setting}/{model}/{dataset}/refit.json",
        predictions="results/predictions/{setting}/{model}/{dataset}.h5",
    params:
        run=train_options,
        state=train_state,
    log:
        "logs/{setting}/{model}/{dataset}/refit.log",
    benchmark:
        "results/benchmarks/{setting}/{model}/{dataset}/refit.tsv"
    group:
        "training"
    threads: train_threads
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=GPUS,
    conda:
        CONDA_ENV
    script:
        "../scripts/train.py"
