localrules:
    accuracy_table,
    analysis_tables,
    pairwise_table,
    convergence_tables,
    ablation_tables,


rule accuracy_table:
    input:
        results=setting_results,
        pretrain=pretrain_metrics,
    output:
        report(
            "results/tables/accuracy.csv",
            caption="../report/accuracy.rst",
            category="Tables",
        ),
    log:
        "logs/tables/accuracy.log",
    conda:
        CONDA_ENV
    params:
        code=library_code("accuracy_table.py"),
    script:
        "../scripts/accuracy_table.py"


rule analysis_tables:
    input:
        "results/tables/accuracy.csv",
    output:
        correlation=report(
            "results/tables/correlation.csv",
            caption="../report/correlation.rst",
            category="Tables",
        ),
        correlation_tex="results/tables/correlation.tex",
        mixed_effects=report(
            "results/tables/mixed_effects.csv",
            caption="../report/mixed_effects.rst",
            category="Tables",
        ),
        source_properties=report(
            "results/tables/source_properties.csv",
            caption="../report/source_properties.rst",
            category="Tables",
        ),
        source_properties_mixed=report(
            "results/tables/source_properties_mixed.csv",
            caption="../report/source_properties_mixed.rst",
            category="Tables",
        ),
        matrices=expand(
            "results/tables/accuracy_matrix_{setting}.{ext}",
            setting=STUDY.settings,
            ext=["csv", "tex"],
        ),
    log:
        "logs/tables/analysis.log",
    conda:
        CONDA_ENV
    params:
        code=library_code("analysis_tables.py"),
        seed=STUDY.analysis.seed,
    script:
        "../scripts/analysis_tables.py"


rule pairwise_table:
    input:
        predictions,
    output:
        report(
            "results/tables/pairwise.csv",
            caption="../report/pairwise.rst",
            category="Tables",
        ),
    log:
        "logs/tables/pairwise.log",
    conda:
        CONDA_ENV
    params:
        code=library_code("pairwise_table.py"),
        n_permutations=STUDY.analysis.permutations,
        seed=STUDY.analysis.seed,
    script:
        "../scripts/pairwise_table.py"


rule convergence_tables:
    input:
        selections,
    output:
        curves=report(
            "results/tables/convergence.csv",
            caption="../report/convergence.rst",
            category="Tables",
        ),
        steps=report(
            "results/tables/steps_to_threshold.csv",
            caption="../report/steps_to_threshold.rst",
            category="Tables",
        ),
        speedup=report(
            "results/tables/speedup.csv",
            caption="../report/speedup.rst",
            category="Tables",
        ),
    log:
        "logs/tables/convergence.log",
    conda:
        CONDA_ENV
    params:
        code=library_code("convergence_tables.py"),
        fraction=STUDY.analysis.convergence_threshold,
        seed=STUDY.analysis.seed,
    script:
        "../scripts/convergence_tables.py"


# The regularisation ablation (config `ablation`): per switch, source top-1 and transfer changes; the
# controlled zoo's correlation against the mixed-recipe zoo's.
rule ablation_tables:
    input:
        "results/tables/accuracy.csv",
    output:
        ablation=report(
            "results/tables/ablation.csv",
            caption="../report/ablation.rst",
            category="Tables",
        ),
        zoo_correlation=report(
            "results/tables/zoo_correlation.csv",
            caption="../report/zoo_correlation.rst",
            category="Tables",
        ),
    log:
        "logs/tables/ablation.log",
    conda:
        CONDA_ENV
    params:
        code=library_code("ablation_tables.py"),
        mixed_zoo=STUDY.zoo.ablation.mixed_zoo,
        seed=STUDY.analysis.seed,
    script:
        "../scripts/ablation_tables.py"


rule tsne_table:
    input:
        tsne_features,
    output:
        "results/tables/tsne.csv",
    log:
        "logs/tables/tsne.log",
    benchmark:
        "results/benchmarks/tables/tsne.tsv"
    conda:
        CONDA_ENV
    threads: STUDY.options.threads
    params:
        code=library_code("tsne_table.py"),
        tsne=STUDY.zoo.ablation.tsne.as_dict() if STUDY.zoo.ablation.tsne else None,
        seed=STUDY.analysis.seed,
    script:
        "../scripts/tsne_table.py"
