localrules:
    figure,


rule figure:
    input:
        "results/tables/accuracy.csv",
    output:
        pdf="figures/{figure}.pdf",
        png="figures/{figure}.png",
    log:
        "logs/figures/{figure}.log",
    wildcard_constraints:
        figure=_alternatives(FIGURES),
    conda:
        CONDA_ENV
    script:
        "../scripts/figure.py"
