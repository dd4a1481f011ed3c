# transferstudy: do better ImageNet models transfer better? (Kornblith, Shlens & Le, CVPR 2019)
# Default: the embedded mini-study of config/config.yaml. See README.md.

configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/probe.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
