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
    log:
        "logs/figures/{figure}.log",
    wildcard_constraints:
        figure=_alternatives(STUDY.figures),
    conda:
        CONDA_ENV
    params:
        code=library_code("figure.py"),
        caption=figure_caption,
    script:
        "../scripts/figure.py"
