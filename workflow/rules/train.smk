# The training arms, fine-tuning and training from random initialisation (wildcard `arm`: the settings
# `finetune` and `scratch`): one job per grid point, a selection on validation, one refit on train+val scored
# on test. With `search: {method: successive_halving}`, the grid points train in rungs of growing steps
# instead (transferstudy.transfer.search): a checkpoint rule per rung promotes the best points, and the next
# rung's jobs are known once it has run. A run keeps its resumable state (params `state`) beside its result,
# not as a declared output, so Snakemake never deletes it, until it finishes; a job killed by preemption or a
# time limit resumes from it when run again (--rerun-incomplete).


localrules:
    select_hyperparameters,
    promote_rung,


rule train_grid_point:
    input:
        model=model_reference,
        dataset="results/data/{dataset}.h5",
    output:
        "results/{arm}/{model}/{dataset}/grid/lr{lr}_wd{wd}.json",
    log:
        "logs/{arm}/{model}/{dataset}/grid/lr{lr}_wd{wd}.log",
    benchmark:
        "results/benchmarks/{arm}/{model}/{dataset}/grid/lr{lr}_wd{wd}.tsv"
    group:
        "training"
    conda:
        CONDA_ENV
    threads: train_threads
    resources:
        mem_mb=estimated("mem_mb", "train_grid_point"),
        runtime=estimated("runtime", "train_grid_point"),
        attempt=attempt_number,
        workers=train_workers,
        gpu=GPUS,
    params:
        code=library_code("train.py"),
        run=train_options,
        point=grid_point,
        state="results/{arm}/{model}/{dataset}/grid/lr{lr}_wd{wd}.state.pt",
    script:
        "../scripts/train.py"


rule train_rung_point:
    input:
        model=model_reference,
        dataset="results/data/{dataset}.h5",
        promoted=rung_promoted_from,
    output:
        "results/{arm}/{model}/{dataset}/rung{rung}/lr{lr}_wd{wd}.json",
    log:
        "logs/{arm}/{model}/{dataset}/rung{rung}/lr{lr}_wd{wd}.log",
    benchmark:
        "results/benchmarks/{arm}/{model}/{dataset}/rung{rung}/lr{lr}_wd{wd}.tsv"
    group:
        "training"
    conda:
        CONDA_ENV
    threads: train_threads
    resources:
        mem_mb=estimated("mem_mb", "train_rung_point"),
        runtime=estimated("runtime", "train_rung_point"),
        attempt=attempt_number,
        workers=train_workers,
        gpu=GPUS,
    params:
        code=library_code("train.py"),
        run=rung_options,
        point=grid_point,
        state="results/{arm}/{model}/{dataset}/rung{rung}/lr{lr}_wd{wd}.state.pt",
    script:
        "../scripts/train.py"


checkpoint promote_rung:
    input:
        rung_results,
    output:
        "results/{arm}/{model}/{dataset}/rung{rung}/promoted.json",
    log:
        "logs/{arm}/{model}/{dataset}/rung{rung}/promoted.log",
    conda:
        CONDA_ENV
    params:
        code=library_code("promote_rung.py"),
        keep=rung_keep,
    script:
        "../scripts/promote_rung.py"


rule select_hyperparameters:
    input:
        grid=grid_results,
        rungs=earlier_rungs,
    output:
        "results/{arm}/{model}/{dataset}/selected.json",
    log:
        "logs/{arm}/{model}/{dataset}/selected.log",
    conda:
        CONDA_ENV
    params:
        code=library_code("select_hyperparameters.py"),
    script:
        "../scripts/select_hyperparameters.py"


rule train_refit:
    input:
        model=model_reference,
        dataset="results/data/{dataset}.h5",
        selection="results/{arm}/{model}/{dataset}/selected.json",
    output:
        result="results/{arm}/{model}/{dataset}/refit.json",
        predictions="results/predictions/{arm}/{model}/{dataset}.h5",
    log:
        "logs/{arm}/{model}/{dataset}/refit.log",
    benchmark:
        "results/benchmarks/{arm}/{model}/{dataset}/refit.tsv"
    group:
        "training"
    conda:
        CONDA_ENV
    threads: train_threads
    resources:
        mem_mb=estimated("mem_mb", "train_refit"),
        runtime=estimated("runtime", "train_refit"),
        attempt=attempt_number,
        workers=train_workers,
        gpu=GPUS,
    params:
        code=library_code("train.py"),
        run=train_options,
        state="results/{arm}/{model}/{dataset}/refit.state.pt",
    script:
        "../scripts/train.py"
