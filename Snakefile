# transferstudy: do better ImageNet models transfer better? (Kornblith, Shlens & Le, CVPR 2019)
# Default: the embedded mini-study of config/config.yaml. See README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/probe.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/transferability.smk"
include: "workflow/rules/subsets.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/plan.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
