"""Every stage of the study as a command: ``python -m transferstudy <stage> [options]``, or ``transferstudy
<stage> [options]`` (the console script). ``python -m transferstudy <stage> --help`` describes one stage.

Each stage's module is imported only when it runs, so a stage starts no slower than its own imports.
"""

import importlib
import sys

# stage -> (module, what it does); in the order of the study.
STAGES = {
    "datasets": ("transferstudy.data.datasets", "build a dataset's split file (HDF5)"),
    "subset": ("transferstudy.data.subsets", "cut k examples per class of a dataset or features file"),
    "pretrain": ("transferstudy.train.pretrain", "pretrain an architecture on the source dataset"),
    "zoo": ("transferstudy.nets.zoo", "check a downloaded network's weights and write its zoo record"),
    "features": ("transferstudy.transfer.features", "extract a network's penultimate features of a dataset"),
    "probe": ("transferstudy.transfer.probe", "the logistic-regression probe on a features file"),
    "transferability": ("transferstudy.transfer.transferability", "transferability estimators on a features file"),
    "finetune": ("transferstudy.transfer.finetune", "a fine-tune or scratch run; `finetune select` picks a grid point"),
    "aggregate": ("transferstudy.analysis.aggregate", "collect result JSONs into the tidy accuracy table"),
    "stats": ("transferstudy.analysis.stats", "the correlation table of an accuracy table"),
    "convergence": ("transferstudy.analysis.convergence", "validation curves and steps to threshold"),
    "ablation": ("transferstudy.analysis.ablation", "t-SNE of features files (the regularisation ablation)"),
    "figures": ("transferstudy.analysis.figures", "draw one paper-style figure from its tables"),
    "transferability-table": ("transferstudy.analysis.transferability", "collect estimator scores into one table"),
    "analysis": ("transferstudy.analysis.tables", "every table and figure of an accuracy table"),
    "schema": ("transferstudy.schema", "write the workflow's configuration schema from the settings groups"),
}


def usage():
    width = max(map(len, STAGES))
    lines = [f"  {stage:<{width}}  {text}" for stage, (_, text) in STAGES.items()]
    return "usage: transferstudy <stage> [options]\n\nstages:\n" + "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), end="")
        return 0
    stage, rest = argv[0], argv[1:]
    if stage not in STAGES:
        print(f"transferstudy: unknown stage {stage!r}\n\n{usage()}", end="", file=sys.stderr)
        return 2
    sys.argv[0] = f"transferstudy {stage}"  # argparse's program name in usage and errors
    from .config import ConfigError

    try:
        return importlib.import_module(STAGES[stage][0]).main(rest)
    except ConfigError as error:  # a bad option value: said as argparse says a bad option, not as a traceback
        print(f"transferstudy {stage}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
