"""The figure catalogue: each paper-style figure's name, the tables it is drawn from, the settings it needs and
its caption. Free of matplotlib, so the workflow plans its figures without drawing library; ``figures`` holds
one drawing function per name here."""

from ..settings import FINETUNE, LOGISTIC_REGRESSION, SCRATCH

# Figure -> the tables it is drawn from (the keyword arguments of its drawing function).
FIGURE_TABLES = {
    "fig1_imagenet_vs_transfer": ("accuracy",),
    "fig2_per_dataset": ("accuracy",),
    "fig3_finetune_vs_logistic": ("accuracy",),
    "fig4_pretrained_vs_random": ("accuracy", "convergence", "steps_to_threshold"),
    "fig5_regularization_ablation": ("ablation", "zoo_correlation"),
    "fig6_tsne": ("tsne",),
    "fig7_transferability": ("transferability_evaluation",),
    "fig8_training_set_size": ("subsets_summary", "subsets_correlation"),
    "fig9_subsets_pretrained_vs_random": ("subsets_summary",),
    "fig10_few_label_selection": ("transferability_few_labels_evaluation",),
    "fig11_source_properties": ("source_properties",),
}
FIGURE_SETTINGS = {
    "fig1_imagenet_vs_transfer": {LOGISTIC_REGRESSION},
    "fig2_per_dataset": {LOGISTIC_REGRESSION},
    "fig3_finetune_vs_logistic": {LOGISTIC_REGRESSION, FINETUNE},
    "fig4_pretrained_vs_random": {FINETUNE, SCRATCH},
    "fig5_regularization_ablation": {LOGISTIC_REGRESSION},
    "fig6_tsne": set(),
    "fig7_transferability": {LOGISTIC_REGRESSION},
    "fig8_training_set_size": {LOGISTIC_REGRESSION},
    "fig9_subsets_pretrained_vs_random": {FINETUNE, SCRATCH},
    "fig10_few_label_selection": {LOGISTIC_REGRESSION},
    "fig11_source_properties": {LOGISTIC_REGRESSION},
}
# The settings a training-set-size figure needs run on subsets (``subsets.arms``, and the probe always).
SUBSET_FIGURE_SETTINGS = {
    "fig8_training_set_size": {LOGISTIC_REGRESSION},
    "fig9_subsets_pretrained_vs_random": {FINETUNE, SCRATCH},
}
# Tables every study with the figure's settings has; the others (the ablation's, the estimators') only some.
STUDY_TABLES = {"accuracy", "convergence", "steps_to_threshold", "source_properties"}


def figures_for(settings, extra_tables=(), subset_settings=()):
    """The figures whose settings are all among ``settings`` (a disabled setting's figures are not drawn), whose
    tables beyond the study's own are among ``extra_tables`` (the ablation's: ablation, tsne, ...; the
    transferability estimators': transferability_evaluation; the subsets') and, for the training-set-size
    figures, whose settings were run on subsets (``subset_settings``)."""
    return [name for name in FIGURE_TABLES if FIGURE_SETTINGS[name] <= set(settings)
            and SUBSET_FIGURE_SETTINGS.get(name, set()) <= set(subset_settings)
            and set(FIGURE_TABLES[name]) - STUDY_TABLES <= set(extra_tables)]


# What each figure shows and how it was computed (the report's captions).
CAPTIONS = {
    "fig1_imagenet_vs_transfer": (
        "Average transfer accuracy against source (ImageNet stand-in) top-1, one point per model and a panel "
        "per setting, as the paper's Figure 1. Transfer accuracy is the mean over datasets of each model's "
        "log-odds accuracy (the empirical logit of the test set's size, finite at 0 and 1); error bars are the "
        "standard error of that mean across datasets, every model over the same datasets. The x axis is "
        "logit-scaled, labelled in percent. Line: least-squares fit with its 95% confidence band; r (in the "
        "title): Pearson correlation of logit(source top-1) with mean log-odds transfer accuracy, with a 95% "
        "bootstrap interval over models."),
    "fig2_per_dataset": (
        "Transfer accuracy against source top-1 per dataset and setting (a block of rows per setting, at most "
        "four datasets to a row, in the study's order), one point per model, on logit axes labelled in percent. "
        "Line: least-squares fit with its 95% confidence band; r (in each title): Pearson correlation on log "
        "odds with a 95% bootstrap interval over models (10,000 paired resamples)."),
    "fig3_finetune_vs_logistic": (
        "Fine-tuning against logistic regression on fixed features of the same pretrained network, one point "
        "per (model, dataset) pair with both results, test accuracy on log-odds axes (labelled in percent). "
        "Points above the dashed diagonal are pairs where fine-tuning is better; the count is given (the "
        "paper: 179 of 192)."),
    "fig4_pretrained_vs_random": (
        "Pretrained against random initialisation. (a) Test accuracy of the fine-tuned network against the "
        "same architecture trained from scratch, per (model, dataset), on log-odds axes. (b) Steps each "
        "setting's selected run needed to reach the threshold (a fraction, analysis.convergence_threshold, "
        "of the best odds either reached on validation); open triangles: a run that never reached it, "
        "plotted at its total steps (the speed-up is then a bound). The median speed-up (title) is over pairs "
        "where both reached it (the paper: 17x); speedup.csv gives it with a bootstrap interval. (c) "
        "Validation curves of the selected runs per dataset: fine-tuning solid, scratch dashed, a colour per "
        "model."),
    "fig5_regularization_ablation": (
        "The regularisation ablation (the paper's four pretraining choices: no batch-norm scale, label "
        "smoothing, dropout, an auxiliary head). Each point is a model pretrained with some switches on, "
        "compared with the same architecture pretrained with all off: its change in source top-1 (x, "
        "points) and its mean change in transfer accuracy over datasets (y, log odds), with a 95% percentile "
        "bootstrap interval over datasets; a panel per transfer setting. Colour: the architecture; marker: the "
        "variant (ls: label smoothing, no_gamma: no batch-norm scale, aux: auxiliary head, all: all four; "
        "combinations joined by '-'). Last panel: Pearson r "
        "of logit source top-1 with mean log-odds transfer accuracy for the controlled zoo (every switch off) "
        "and for the mixed-recipe zoo (the same architectures, each with its own switches; the paper's "
        "public checkpoints), with 95% bootstrap intervals over models."),
    "fig6_tsne": (
        "t-SNE (scikit-learn, PCA initialisation, seeded) of the standardised penultimate-layer features of one "
        "target dataset's test split (ablation.tsne.dataset), for the ablation's network pretrained with every "
        "switch off and with all four on; colours are classes. The silhouette of the classes in "
        "each embedding summarises how separated they look (higher: tighter, better separated clusters)."),
    "fig7_transferability": (
        "Transferability estimators judged against measured transfer, a panel per setting. For each dataset "
        "(a colour each), the weighted Kendall tau (scipy, hyperbolic weights: the order of the best models "
        "counts most) between an estimator's scores of the models and the accuracy they reach; black: the mean "
        "over datasets with a 95% bootstrap interval over datasets. The baselines first: source top-1 (the "
        "paper's ImageNet top-1), the network's parameters and forward FLOPs, and k-NN accuracy on the target's "
        "features. The estimators score each network's features of the training split without training: LogME "
        "(evidence of Bayesian linear regression), LEEP and NCE (from the network's own source classifier), "
        "H-score with Ledoit-Wolf shrinkage, SFDA, TransRate, GBC. transferability_evaluation.csv gives each tau, "
        "Kendall tau and Pearson r with intervals and the estimators' wall time against the probe's; "
        "transferability_baselines.csv which estimator beats which baseline; transferability_stability.csv how "
        "stable their ranking is."),
    "fig8_training_set_size": (
        "Transfer with few examples, a row per setting re-run on subsets. Each panel but the last: a dataset's "
        "test accuracy against examples per class in the training (and validation) split, on a log axis, the "
        "full training split last ('all'); a line per model, the mean over seeded subsets with its 95% "
        "t-interval over seeds. Last panel: Pearson r of logit source top-1 with the mean over datasets of the "
        "models' log-odds accuracy at each size, with a 95% bootstrap interval over models: how well source "
        "accuracy predicts transfer as the target data shrink."),
    "fig9_subsets_pretrained_vs_random": (
        "Pretrained against random initialisation as the training set shrinks, as the paper's figure: per "
        "dataset, the test accuracy of fine-tuning (solid) and of training from scratch (dashed) against "
        "examples per class (log axis; 'all': the full training split), the mean over the arm's models and "
        "seeded subsets with a 95% t-interval over seeds of the models' mean."),
    "fig10_few_label_selection": (
        "Can a score computed from a few labelled images per class pick the backbone for the whole dataset? A "
        "panel per transfer setting: each estimator's weighted Kendall tau between its scores of the models and "
        "their accuracy on the full data, the mean over the single-label datasets, when the estimator sees only "
        "k examples per class of the training split (k-NN: and of the validation split), the subsets of "
        "training-set-size curves (seeded, nested over k; each dataset's value the mean over seeds); 'all': the "
        "full training split. Dashed lines: the baselines that need no labels (source top-1, parameters, FLOPs). "
        "transferability_few_labels_evaluation.csv gives every dataset's value with its interval over seeds."),
    "fig11_source_properties": (
        "Which property of a source model predicts its transfer, a panel per setting: the Pearson correlation of "
        "each property the accuracy table holds (source top-1, and top-1 on ImageNet-ReaL, -V2, -Sketch, -R and -A "
        "where known, as log odds; the parameters and forward FLOPs, counted by the workflow, as logs; pretraining "
        "data beyond ImageNet-1k as 0/1; a property no model has, or the same for all, is not drawn) with transfer "
        "accuracy (log odds) on each dataset (a colour each), and with each model's mean log-odds transfer over "
        "datasets (black, with a 95% bootstrap interval over models). source_properties.csv gives each property's "
        "difference from top-1's r with a paired bootstrap "
        "interval; source_properties_mixed.csv what a property adds to top-1 in a mixed-effects model with a "
        "random intercept per dataset."),
}
