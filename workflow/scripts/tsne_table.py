"""t-SNE of one dataset's test features, with and without the pretraining switches (rule tsne_table)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.analysis.ablation import tsne_table
from transferstudy.io import write_csv
from transferstudy.logs import log_to

log_to(snakemake.log[0])
tsne = snakemake.params.tsne
write_csv(tsne_table(list(snakemake.input), perplexity=tsne["perplexity"], max_points=tsne["max_points"],
                     seed=snakemake.params.seed), snakemake.output[0])
