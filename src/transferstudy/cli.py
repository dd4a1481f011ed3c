"""The command line, in one place: every stage of the study as a command, ``python -m transferstudy <stage>
[options]`` or ``transferstudy <stage> [options]`` (the console script); ``transferstudy <stage> --help``
describes one stage.

Each stage's flags are made from the settings groups where it has one (``config``), so a command and the
workflow share their defaults. A stage imports its library module only when it runs, so a stage starts no
slower than its own imports.

Bad input (``errors.InputError``: a file, table, option or configuration value that cannot be used; a file
that is missing, a directory or unreadable) is said in one line naming it, exit status 2, as argparse says a bad
option; anything else is a bug, shown with its traceback and a request to report it.
"""

import argparse
import errno
import json
import logging
import sys
import traceback

from .config import (AnalysisOptions, ArmRecipe, FeatureOptions, PretrainRecipe, ProbeSolver, SplitOptions,
                     StudyOptions, TrainingArm, TransferabilityOptions, TsneOptions, checked_estimators)
from .errors import InputError
from .settings import ARM_INIT, ESTIMATORS

# stage -> (function, what it does); filled by @stage, in the order of the study.
STAGES = {}


def stage(name, summary):
    def register(command):
        STAGES[name] = (command, summary)
        return command
    return register


def _parser(module, description=None):
    """A stage's parser, described by ``description`` or the first paragraph of its module's docstring."""
    return argparse.ArgumentParser(description=description or module.__doc__.split("\n\n")[0])


def _log(format="%(asctime)s %(message)s"):
    logging.basicConfig(level=logging.INFO, format=format)


@stage("datasets", "build a dataset's split file (HDF5)")
def datasets_command(argv):
    from .data import datasets

    parser = _parser(datasets)
    parser.add_argument("name", help=f"a registered dataset ({', '.join(datasets.list_datasets())}), or any name "
                                     "with --declare")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=StudyOptions.seed)
    parser.add_argument("--split-seed", type=int, default=SplitOptions.seed)
    parser.add_argument("--val-fraction", type=float, default=SplitOptions.val_fraction)
    parser.add_argument("--root", help="directory of an official dataset (see official.OBTAIN)")
    parser.add_argument("--download", action="store_true", help="fetch it there first (where torchvision can)")
    parser.add_argument("--declare", type=json.loads, metavar="JSON",
                        help='a dataset of one\'s own, as in the config: \'{"format": "csv", "manifest": "m.csv", '
                             '"metric": "top1"}\'')
    parser.add_argument("--unreadable", choices=("error", "skip"), default=FeatureOptions.unreadable,
                        help="declared data: an undecodable image fails, or is left out and counted")
    args = parser.parse_args(argv)
    _log()
    if args.declare:
        options = args.declare
    else:
        if args.name not in datasets.list_datasets():
            parser.error(f"unknown dataset {args.name!r}; valid: {', '.join(datasets.list_datasets())}, or declare "
                         "one with --declare")
        official = datasets.get_dataset_info(args.name).kind == "official"
        options = {"root": args.root, "download": args.download} if official else {}
    datasets.prepare_dataset(args.name, args.out, seed=args.seed, split_seed=args.split_seed,
                             val_fraction=args.val_fraction, unreadable=args.unreadable, **options)


@stage("subset", "cut k examples per class of a dataset or features file")
def subset_command(argv):
    from .data import subsets

    parser = _parser(subsets)
    parser.add_argument("source", help="a dataset's or a features split file (HDF5)")
    parser.add_argument("--shots", type=int, required=True, help="examples per class in train and val")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.shots < 1:
        parser.error("--shots must be at least 1")
    _log()
    subsets.write_subset(args.source, args.out, shots=args.shots, seed=args.seed)


@stage("pretrain", "pretrain an architecture on the source dataset")
def pretrain_command(argv):
    from .nets import architectures
    from .train import pretrain

    parser = _parser(pretrain)
    parser.add_argument("arch", help=f"one of {', '.join(architectures.list_models())}, or a torchvision "
                                     "architecture")
    parser.add_argument("source", help="source dataset HDF5 (from `transferstudy datasets`)")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--metrics", required=True)
    PretrainRecipe.add_arguments(parser)
    parser.add_argument("--state", help="resumable state file (needed for sources of image files)")
    parser.add_argument("--workers", type=int, default=FeatureOptions.workers,
                        help="image-decoding processes (image-file sources)")
    parser.add_argument("--seed", type=int, default=StudyOptions.seed)
    parser.add_argument("--threads", type=int, default=StudyOptions.threads)
    parser.add_argument("--device", default=StudyOptions.device)
    args = parser.parse_args(argv)
    _log()
    pretrain.pretrain(args.arch, args.source, args.checkpoint, args.metrics,
                      recipe=PretrainRecipe.from_arguments(args), seed=args.seed, threads=args.threads,
                      device=args.device, state_path=args.state, workers=args.workers)


MODEL_REFERENCES = "torchvision:NAME[:WEIGHTS], timm:NAME.TAG, pretrainedmodels:NAME or python:FILE.py:FUNCTION"


@stage("zoo", "check a downloaded network's weights and write its zoo record")
def zoo_command(argv):
    from .nets import zoo
    from .nets.sources import registry

    parser = _parser(zoo, "Check a pretrained network's weights are here and write its zoo record (source top-1, "
                          "preprocessing, weights hash).")
    parser.add_argument("model", help=MODEL_REFERENCES)
    parser.add_argument("--out", required=True, help="record JSON")
    parser.add_argument("--source-top1", type=float, help="ImageNet top-1 as a fraction, if the weights lack it")
    parser.add_argument("--imagenet-val", help="ImageNet validation folder (ImageFolder layout): measure top-1")
    parser.add_argument("--workers", type=int, default=FeatureOptions.workers)
    parser.add_argument("--device", default=StudyOptions.device)
    args = parser.parse_args(argv)
    spec = registry.model_reference(args.model)
    if not isinstance(spec, dict):
        parser.error(f"give {MODEL_REFERENCES}")
    if args.source_top1 is not None:
        spec["source_top1"] = args.source_top1
    record = zoo.describe(spec, args.out, imagenet_val=args.imagenet_val, workers=args.workers, device=args.device)
    print(f"{record['arch']}: source top-1 {record['source_top1']:.4f} ({record['source_top1_from']})")


@stage("features", "extract a network's penultimate features of a dataset")
def features_command(argv):
    from .nets.sources import registry
    from .transfer import features

    parser = _parser(features)
    parser.add_argument("model", help=f"checkpoint .pt, zoo record .json, {MODEL_REFERENCES}")
    parser.add_argument("dataset", help="dataset HDF5 (from `transferstudy datasets`)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--model-name")
    FeatureOptions.add_arguments(parser)
    parser.add_argument("--threads", type=int, default=StudyOptions.threads)
    parser.add_argument("--device", default=StudyOptions.device)
    args = parser.parse_args(argv)
    _log()
    features.extract_features(registry.model_reference(args.model), args.dataset, args.out,
                              model_name=args.model_name, options=FeatureOptions.from_arguments(args),
                              threads=args.threads, device=args.device)


@stage("probe", "the logistic-regression probe on a features file")
def probe_command(argv):
    from .transfer import probe

    parser = _parser(probe)
    parser.add_argument("features", help="features HDF5 (from `transferstudy features`)")
    parser.add_argument("--out", required=True, help="result JSON")
    parser.add_argument("--predictions", help="HDF5 for the test split's scores (for pairwise comparisons)")
    ProbeSolver.add_arguments(parser)
    parser.add_argument("--device", default=StudyOptions.device)
    args = parser.parse_args(argv)
    _log("%(asctime)s %(levelname)s %(message)s")
    probe.run_probe(args.features, args.out, args.predictions, solver=ProbeSolver.from_arguments(args),
                    device=args.device)


@stage("transferability", "transferability estimators on a features file")
def transferability_command(argv):
    from .transfer import transferability

    parser = _parser(transferability)
    parser.add_argument("features", help="features HDF5 (from `transferstudy features`)")
    parser.add_argument("--model", help="the checkpoint .pt or zoo record .json the features came from: its source "
                                        "classifier for LEEP and NCE (without it they are not scored)")
    parser.add_argument("--estimators", nargs="+", default=list(ESTIMATORS), metavar="ESTIMATOR",
                        help=f"{', '.join(ESTIMATORS)}, or a score of one's own as file.py:function "
                             "(default: every built-in one)")
    parser.add_argument("--examples-per-class", nargs="*", type=int, default=[], metavar="K",
                        help="also score seeded subsets of K examples per class (selection from few labels)")
    parser.add_argument("--seeds", type=int, default=TransferabilityOptions.seeds, help="subsets drawn per size")
    parser.add_argument("--out", required=True, help="result JSON")
    args = parser.parse_args(argv)
    estimators = checked_estimators("--estimators", [{"python": entry} if ":" in entry else entry
                                                     for entry in args.estimators])
    options = TransferabilityOptions.from_mapping({"examples_per_class": args.examples_per_class,
                                                   "seeds": args.seeds})
    _log()
    transferability.score_features(args.features, args.model, args.out, estimators=estimators,
                                   examples_per_class=options.examples_per_class, seeds=options.seeds)


@stage("finetune", "a fine-tune or scratch run; `finetune select` picks a grid point")
def finetune_command(argv):
    if argv[:1] == ["select"]:
        return select_command(argv[1:])
    from .transfer import finetune, search

    parser = _parser(finetune)
    parser.add_argument("checkpoint", help="pretrained checkpoint .pt or zoo record .json (for init=random: its "
                                           "architecture)")
    parser.add_argument("dataset", help="dataset HDF5 (from `transferstudy datasets`)")
    parser.add_argument("--init", choices=finetune.INITS, default=ARM_INIT["finetune"])
    parser.add_argument("--lr", type=float)
    parser.add_argument("--weight-decay", type=float, default=0.0, help="divided by the learning rate, as in the paper")
    parser.add_argument("--selection", help="selection JSON (from `select`): its lr and weight decay, recorded")
    parser.add_argument("--fit", choices=sorted(finetune.FITS), default="train")
    parser.add_argument("--out", required=True, help="result JSON")
    parser.add_argument("--state", required=True, help="resumable state file")
    parser.add_argument("--predictions", help="HDF5 for the evaluation split's scores")
    parser.add_argument("--model-name")
    parser.add_argument("--threads", type=int, default=StudyOptions.threads)
    parser.add_argument("--device", default=StudyOptions.device, help="cpu, cuda, cuda:1, ...")
    TrainingArm.add_arguments(parser, skip=("lr", "weight_decay", "enabled", "datasets", "recipe", "search"))
    ArmRecipe.add_arguments(parser)
    args = parser.parse_args(argv)
    point = search.refit_options(args.selection) if args.selection else {"lr": args.lr,
                                                                          "weight_decay": args.weight_decay}
    if point["lr"] is None:
        parser.error("give --lr (and --weight-decay), or --selection")
    _log()
    run = finetune.TrainRun(args.checkpoint, args.dataset, args.out, args.state, init=args.init, fit=args.fit,
                            recipe=ArmRecipe.from_arguments(args), predictions=args.predictions,
                            model_name=args.model_name, device=args.device, amp=args.amp, workers=args.workers,
                            **point)
    finetune.train(run, threads=args.threads)


def select_command(argv):
    from .transfer import search

    parser = argparse.ArgumentParser(prog="transferstudy finetune select",
                                     description="Pick the grid point with the best validation metric.")
    parser.add_argument("grid", nargs="+", help="grid-point result JSONs of one (model, dataset, setting)")
    parser.add_argument("--out", required=True, help="selection JSON")
    args = parser.parse_args(argv)
    selection = search.select_hyperparameters(args.grid, args.out)
    print(f"lr {selection['lr']:g}, weight decay {selection['weight_decay']:g}: "
          f"validation {selection['metric']} {selection['val_metric']:.4f}")


@stage("aggregate", "collect result JSONs into the tidy accuracy table")
def aggregate_command(argv):
    from .analysis import aggregate
    from .io import write_csv

    parser = _parser(aggregate)
    parser.add_argument("results", nargs="+", help="result JSONs (probe, fine-tune, ...)")
    parser.add_argument("--pretrain", nargs="+", required=True, help="pretrain JSONs, in results/models/<model>/")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    write_csv(aggregate.accuracy_table(args.results, args.pretrain), args.out)


@stage("stats", "the correlation table of an accuracy table")
def stats_command(argv):
    from .analysis import stats
    from .io import read_table, write_csv

    parser = _parser(stats)
    parser.add_argument("accuracy", help="tidy accuracy CSV (model, dataset, setting, value, source_top1, ...)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--incomplete", choices=stats.INCOMPLETE, default="error",
                        help="a setting whose model x dataset matrix misses cells: refuse it (default), or analyse "
                             "its complete sub-matrix")
    args = parser.parse_args(argv)
    _log("%(levelname)s %(message)s")
    write_csv(stats.correlation_table(read_table(args.accuracy, "accuracy table"), incomplete=args.incomplete),
              args.out)


@stage("convergence", "validation curves and steps to threshold")
def convergence_command(argv):
    from .analysis import convergence
    from .io import write_csv

    parser = _parser(convergence)
    parser.add_argument("selections", nargs="+", help="selected.json files of fine-tune and scratch grids")
    parser.add_argument("--curves", required=True, help="output: tidy validation curves (CSV)")
    parser.add_argument("--steps", required=True, help="output: steps to threshold and speed-ups (CSV)")
    parser.add_argument("--speedup", help="output: the median speed-up with its bootstrap interval (CSV)")
    parser.add_argument("--fraction", type=float, default=AnalysisOptions.convergence_threshold,
                        help="threshold as a fraction of the best odds")
    args = parser.parse_args(argv)
    curves = convergence.curves_table(args.selections)
    write_csv(curves, args.curves)
    steps = convergence.steps_to_threshold(curves, args.fraction)
    write_csv(steps, args.steps)
    if args.speedup:
        write_csv(convergence.speedup_summary(steps), args.speedup)


@stage("ablation", "t-SNE of features files (the regularisation ablation)")
def ablation_command(argv):
    from .analysis import ablation
    from .io import write_csv

    parser = _parser(ablation, "t-SNE table of test-split features (one file per model)")
    parser.add_argument("features", nargs="+", help="features HDF5 files of the same dataset")
    parser.add_argument("--out", required=True, help="output CSV")
    TsneOptions.add_arguments(parser, skip=("dataset",))
    parser.add_argument("--seed", type=int, default=AnalysisOptions.seed, help="seed of the subset and the embedding")
    args = parser.parse_args(argv)
    write_csv(ablation.tsne_table(args.features, perplexity=args.perplexity, max_points=args.max_points,
                                  seed=args.seed), args.out)


@stage("figures", "draw one paper-style figure from its tables")
def figures_command(argv):
    from .analysis import figures, plotting
    from .analysis.catalogue import FIGURE_TABLES
    from .io import read_table

    parser = _parser(figures)
    parser.add_argument("figure", choices=sorted(figures.FIGURES))
    for table in sorted({t for tables in FIGURE_TABLES.values() for t in tables}):
        parser.add_argument("--" + table.replace("_", "-"), help=f"{table} table (CSV)")
    parser.add_argument("--out", action="append", required=True, help="output file (.pdf, .png); repeatable")
    args = vars(parser.parse_args(argv))
    needed = FIGURE_TABLES[args["figure"]]
    missing = [table for table in needed if not args[table]]
    if missing:
        parser.error(f"{args['figure']} needs " + ", ".join("--" + t.replace("_", "-") for t in missing))
    tables = {table: read_table(args[table], f"{table} table") for table in needed}
    plotting.save(figures.FIGURES[args["figure"]](**tables), args["out"])


@stage("transferability-table", "collect estimator scores into one table")
def transferability_table_command(argv):
    from .analysis import transferability
    from .io import write_csv

    parser = _parser(transferability, "Collect transferability estimators' result JSONs (from `transferstudy "
                                      "transferability`) into the tidy scores table.")
    parser.add_argument("scores", nargs="+", help="estimator result JSONs, one per (model, dataset)")
    parser.add_argument("--probes", nargs="*", default=(), help="probe result JSONs of the same pairs (their wall "
                                                                "time, probe_seconds)")
    parser.add_argument("--out", required=True, help="transferability CSV")
    parser.add_argument("--few-labels", help="also write the scores on few-label subsets to this CSV")
    args = parser.parse_args(argv)
    write_csv(transferability.transferability_table(args.scores, args.probes), args.out)
    if args.few_labels:
        write_csv(transferability.few_labels_table(args.scores), args.few_labels)


@stage("analysis", "every table and figure of an accuracy table")
def analysis_command(argv):
    from .analysis import stats, tables
    from .io import read_table

    parser = _parser(tables)
    parser.add_argument("accuracy", help="tidy accuracy CSV (model, dataset, setting, value, source_top1)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--convergence", help="validation curves CSV of fine-tune and scratch runs")
    parser.add_argument("--threshold", type=float, default=AnalysisOptions.convergence_threshold,
                        help="steps-to-threshold: fraction of the best odds")
    parser.add_argument("--mixed-zoo", nargs="+", help="the regularisation ablation's mixed-recipe models: adds "
                        "ablation.csv, zoo_correlation.csv and their figure (the table needs the switches column)")
    parser.add_argument("--incomplete", choices=stats.INCOMPLETE, default="error",
                        help="a setting whose model x dataset matrix misses cells: refuse it, listing them "
                             "(default), or analyse its complete sub-matrix (models or datasets dropped, reported)")
    parser.add_argument("--transferability", help="transferability estimators' scores CSV (model, dataset, estimator, "
                        "score): adds transferability_evaluation.csv and its figure")
    parser.add_argument("--few-labels", help="the estimators' scores on few-label subsets CSV (from "
                        "`transferstudy transferability-table --few-labels`): adds "
                        "transferability_few_labels_evaluation.csv and Figure 10 (with --transferability)")
    parser.add_argument("--subsets", help="results on training-set-size subsets CSV (setting, model, dataset, "
                        "examples_per_class, seed, value, source_top1): adds their summary, correlation by size and "
                        "figures")
    args = parser.parse_args(argv)
    _log("%(levelname)s %(message)s")
    read = {name: read_table(getattr(args, name), f"{name} table") if getattr(args, name) else None
            for name in ("convergence", "transferability", "subsets", "few_labels")}
    if read["few_labels"] is not None and read["transferability"] is None:
        parser.error("--few-labels is judged beside the full data's scores: give --transferability too")
    accuracy = read_table(args.accuracy, "accuracy table")
    for path in tables.analyse(accuracy, args.out, read["convergence"], args.threshold, args.mixed_zoo,
                               args.incomplete, read["transferability"], read["subsets"], read["few_labels"]):
        print(path)


@stage("schema", "write the workflow's configuration schema and key table from the settings groups")
def schema_command(argv):
    from . import schema

    parser = _parser(schema, "Write the workflow's configuration schema, and the table of keys of a README, "
                             "generated from the settings groups.")
    parser.add_argument("--out", required=True, help="the schema file (workflow/schemas/config.schema.yaml)")
    parser.add_argument("--readme", help="a README whose generated key table is rewritten (config/README.md)")
    args = parser.parse_args(argv)
    with open(args.out, "w") as f:
        f.write(schema.schema_text())
    if args.readme:
        with open(args.readme) as f:
            text = f.read()
        with open(args.readme, "w") as f:
            f.write(schema.with_key_table(text))


def _study(configfiles):
    from .schema import load_config
    from .study.plan import Study

    return Study(load_config(configfiles))


@stage("network-costs", "count networks' FLOPs, parameters and activations into the cost table (torch, meta device)")
def network_costs_command(argv):
    from .nets import costs
    from .study.cost import study_networks

    parser = _parser(costs)
    parser.add_argument("--configfile", nargs="+", required=True, action="append",
                        help="a configuration whose networks are counted (its files merged in order); repeat the "
                             "option for several")
    parser.add_argument("--out", default=str(costs.TABLE), help="the cost table (default: the library's)")
    args = parser.parse_args(argv)
    counted = {}
    for paths in args.configfile:
        for name, (spec, size) in study_networks(_study(paths)).items():
            if name not in counted:
                counted[name] = costs.count(spec, size)
                print(f"{name}: {counted[name].forward_flops / 1e9:.3f} GFLOP at {counted[name].input_size} px")
    costs.write_table(counted.values(), args.out)


@stage("calibrate", "measure a study's networks' throughputs on this machine, for its cost plan")
def calibrate_command(argv):
    from .io import write_json
    from .study.cost import STAGE_MODULES, study_networks
    from .train import calibrate

    parser = _parser(calibrate)
    parser.add_argument("--configfile", nargs="+", required=True, action="extend", help="the study's configuration")
    parser.add_argument("--out", required=True, help="the calibration file (JSON; the config's cost.calibration)")
    parser.add_argument("--device", help="default: the config's")
    parser.add_argument("--batch-size", type=int, help="forward passes' batch (default: the config's features)")
    parser.add_argument("--train-batch-size", type=int, help="training steps' batch (default: the first arm's)")
    parser.add_argument("--repeats", type=int, default=3, help="timed batches after a warm-up one")
    parser.add_argument("--threads", type=int, help="threads per job (default: the config's)")
    parser.add_argument("--parallel", type=int, default=1, help="jobs sharing the machine at once: N for a "
                        "workstation running `snakemake --cores N` jobs of one thread, 1 on a cluster node")
    args = parser.parse_args(argv)
    _log()
    study = _study(args.configfile)
    arms = list(study.arms.values())
    result = calibrate.calibrate(
        study_networks(study), device=args.device or study.options.device, batch_size=args.batch_size or study.features.batch_size,
        train_batch_size=args.train_batch_size or (arms[0].recipe.batch_size if arms else 32), repeats=args.repeats,
        threads=args.threads or study.options.threads, parallel=args.parallel, job_modules=STAGE_MODULES)
    write_json(args.out, result)


@stage("plan", "what a configuration will cost before it runs: jobs, device-hours, FLOPs, disk, memory")
def plan_command(argv):
    from .schema import load_config
    from .study import cost

    parser = _parser(cost, "What a configuration will cost before it runs: per job type and (model, dataset), "
                           "jobs, images, FLOPs, bytes written, peak memory and device-hours.")
    parser.add_argument("--configfile", nargs="+", required=True, action="extend", help="the study's configuration")
    parser.add_argument("--calibration", help="a calibration file (default: the config's cost.calibration)")
    parser.add_argument("--data-dir", default="results/data", help="built datasets' exact sizes are read here")
    parser.add_argument("--out", help="write the plan as CSV here")
    parser.add_argument("--top", type=int, default=10, help="the most expensive jobs listed")
    args = parser.parse_args(argv)
    plan, text = cost.plan_study(load_config(args.configfile), calibration=args.calibration,
                                 data_dir=args.data_dir, top=args.top)
    if args.out:
        cost.write_rows(plan, args.out)
    print(text)


def usage():
    width = max(map(len, STAGES))
    lines = [f"  {name:<{width}}  {summary}" for name, (_, summary) in STAGES.items()]
    return "usage: transferstudy <stage> [options]\n\nstages:\n" + "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), end="")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in STAGES:
        print(f"transferstudy: unknown stage {name!r}\n\n{usage()}", end="", file=sys.stderr)
        return 2
    sys.argv[0] = f"transferstudy {name}"  # argparse's program name in usage and errors
    try:
        return STAGES[name][0](rest)
    except InputError as error:
        return _input_error(name, error)
    except OSError as error:  # a file missing, a directory, unreadable; a full disk
        if error.filename is None and error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise _bug(name)
        where = f"{error.filename}: " if error.filename is not None else ""
        return _input_error(name, f"{where}{error.strerror or error}")
    except Exception:
        raise _bug(name)


def _input_error(name, error):
    """Say a refusal of bad input as argparse says a bad option: one line, exit status 2."""
    print(f"transferstudy {name}: error: {error}", file=sys.stderr)
    return 2


def _bug(name):
    """A failure that is no refusal of input: its traceback, and what to do with it."""
    traceback.print_exc()
    print(f"transferstudy {name}: this is a bug in transferstudy, not a problem with your input; please report it "
          "with the traceback above and the command that gave it", file=sys.stderr)
    return SystemExit(1)
