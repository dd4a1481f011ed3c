"""The transfer settings the study compares, by the names every table, path and figure uses.

- ``logistic_regression``: L2-regularised logistic regression on the network's fixed penultimate features
  (the probe, ``transfer.probe``);
- ``finetune``: the pretrained network with a new classifier, trained end to end;
- ``scratch``: the same architecture trained from random initialisation.

The last two are the *training arms* (``transfer.finetune``): each is a grid of training runs, one per
(learning rate, weight decay), a selection on validation and a refit on train+val.
"""

LOGISTIC_REGRESSION = "logistic_regression"
FINETUNE = "finetune"
SCRATCH = "scratch"

TRAINING_ARMS = (FINETUNE, SCRATCH)
SETTINGS = (LOGISTIC_REGRESSION, *TRAINING_ARMS)

# How each training arm initialises the network.
ARM_INIT = {FINETUNE: "pretrained", SCRATCH: "random"}
INIT_ARM = {init: arm for arm, init in ARM_INIT.items()}

# The transferability estimators (``transfer.transferability``), in the order of tables and figures: the scores,
# then k-NN accuracy, a baseline computed like them.
ESTIMATORS = ("logme", "leep", "nce", "hscore", "sfda", "transrate", "gbc", "ncti", "knn")
# The baselines the estimators are judged against: the source properties the accuracy table holds (top-1; the
# parameters and forward FLOPs counted where a network is loaded), and k-NN accuracy on the target.
SOURCE_BASELINES = ("source_top1", "params", "flops")
BASELINES = (*SOURCE_BASELINES, "knn")

# What the study records of each source network besides its ImageNet top-1 (``source_top1``): its top-1 on
# ImageNet's other test sets (ReaL labels, ImageNetV2 matched frequency, Sketch, -R, -A; timm publishes them per
# tag, ``nets.sources.timm``), its size (parameters and forward FLOPs at its input size, counted where the network
# is loaded, ``nets.costs.size_record``) and the data it was pretrained on. The zoo record holds each with where it
# came from (``<property>_from``); the accuracy table holds each as a column.
SOURCE_ACCURACIES = ("imagenet_real_top1", "imagenet_v2_top1", "imagenet_sketch_top1", "imagenet_r_top1",
                     "imagenet_a_top1")
SOURCE_SIZES = ("params", "flops")
PRETRAINING_DATA = "pretraining_data"
SOURCE_PROPERTIES = ("source_top1", *SOURCE_ACCURACIES, *SOURCE_SIZES, PRETRAINING_DATA)
