localrules:
    figure,


rule figure:
    input:
        unpack(figure_inputs),
    output:
        pdf="figures/{figure}.pdf",
        png=report(
            "figures/{figure}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
    params:
        caption=figure_caption,
    log:
        "logs/figures/{figure}.log",
    wildcard_constraints:
        figure=_alternatives(FIGURES),
    conda:
        CONDA_ENV
    script:
        "../scripts/figure.py"
