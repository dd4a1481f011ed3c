localrules:
    accuracy_table,
    correlation_table,


rule accuracy_table:
    input:
        results=probe_results,
        pretrain=pretrain_metrics,
    output:
        "results/tables/accuracy.csv",
    log:
        "logs/tables/accuracy.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/accuracy_table.py"


rule correlation_table:
    input:
        "results/tables/accuracy.csv",
    output:
        "results/tables/correlation.csv",
    log:
        "logs/tables/correlation.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/correlation_table.py"
