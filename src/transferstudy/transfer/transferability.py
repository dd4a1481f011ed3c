"""Transferability estimators: how well a pretrained network should transfer to a target dataset, scored from
its features of the training split alone, without training (for LEEP and NCE, from its own source classifier's
outputs on them; for the k-NN baseline, with the validation split as its test).

Each estimator follows its paper's definition; a higher score predicts better transfer.

- ``logme`` (You et al., ICML 2021): the log marginal likelihood (evidence) of the labels under Bayesian linear
  regression on the features, maximised over the prior precision alpha and noise precision beta by MacKay's
  fixed point, divided by the number of examples; one-hot label columns (multi-label: the 0/1 label columns)
  as targets, the mean over columns.
- ``leep`` (Nguyen et al., ICML 2020): the mean log-likelihood of the target labels under the "expected
  empirical predictor" built from the source classifier's probabilities: P(y | x) = sum_z P(y | z) theta_z(x)
  with P(y | z) from the empirical joint of target labels and source-class probabilities.
- ``nce`` (Tran et al., ICCV 2019): negative conditional entropy -H(Y | Z) of the target labels given the
  source classifier's hard labels Z (its arg max) on the target examples.
- ``hscore`` (Bao et al., ICIP 2019), the shrinkage-regularised variant (Ibrahim et al., 2022):
  tr(cov_LW(f)^-1 (1 - a) cov(E[f | y])), with cov_LW the Ledoit-Wolf estimate of the features' covariance
  and a its shrinkage (``ledoit_wolf``, scikit-learn's estimator, without its import time in every job);
  without shrinkage the estimate of cov(f) is ill-conditioned once the features' dimension nears the examples'
  count.
- ``sfda`` (Shao et al., ECCV 2022, "Not all models are equal"): the mean probability of the true class under
  a regularised Fisher discriminant, fitted twice: first on the features, then on the "ConfMix" features, each
  example pulled towards the mean of the other classes' means by one minus its softened first-fit probability
  (a self-challenge: classes that confuse the first fit are made harder). The within-class scatter is shrunk
  towards its mean eigenvalue by lambda = max(exp(-5 sigma), 1e-10), sigma its largest eigenvalue from three
  power-iteration steps started at its row sums; both as the authors' code (TencentARC/SFDA, ``metrics.py``,
  ``SFDA_Score``), which is the paper's a = 5. Their code projects on every generalised eigenvector V of the
  between- and within-class scatter, so its classifier means V V^T = means S_w^-1 exactly: computed so here.
- ``transrate`` (Huang et al., ICML 2022, "Frustratingly easy transferability estimation"): the coding rate of
  the features minus their class-conditional coding rate, R(Z) - sum_c n_c / n R(Z_c), with R(Z) = 1/2 sum_i
  log(1 + lambda_i / eps) over the eigenvalues lambda_i of Z^T Z / n, divided by the rank of Z^T Z. As the
  authors' code (Long-Kai/TransRate, its un-projected path: ``generate_transrate/transrate.py`` and
  ``extract_result_utils.process_transrate_logs`` with its defaults): rows scaled to unit length, centred and
  scaled again, eps = 1e-4. The paper writes R with d / (n eps^2) and no division by the rank; its results,
  and the rate tested here, are the code's (whose per-dataset eps tuning in the paper's tables is left out: one
  eps for every dataset).
- ``gbc`` (Pandy et al., CVPR 2022, "Transferability estimation using Bhattacharyya class separability"):
  minus the sum over ordered pairs of classes of the Bhattacharyya coefficient exp(-D_B) between the classes'
  Gaussians, on the features reduced by PCA to 64 dimensions (fewer where the features or examples are
  fewer), each class a spherical Gaussian: its mean and the mean of its per-dimension variances (population,
  floored at 1e-4). As the authors' code and its defaults (google-research/stable_transfer ``gbc.py``,
  ``config_transferability_source_selection.py``: spherical, PCA 64), including its spherical log-determinant
  term, computed from the scalar variance once rather than once per dimension.
- ``ncti`` (Wang et al., ICCV 2023, "How far pre-trained models are from neural collapse on the target dataset
  informs their transferability"): three terms of neural collapse on the features reduced by PCA to 64 dimensions
  (fewer where the features or examples are fewer), through a linear discriminant (LDA): ``seli``, the nuclear
  norm of its centred projection of the features (their spread over the discriminant's C - 1 directions);
  ``ncc``, its mean probability of the true class; ``vc``, the log of the sum over classes of the nuclear norms
  of the class's matrix of predicted probabilities (within-class variability). The score is ncc + seli - vc,
  each term min-max normalised over the models scored on the dataset, so it is computed where all models meet:
  the estimator jobs record the three terms (``terms``), the scores table (``analysis.transferability``) combines
  them; a model's NCTI depends on which other models are scored. As the authors' code (BUserName/NCTI,
  ``metrics.NCTI_Score`` and ``evaluate_metric_group1_cpu.py``): the LDA is scikit-learn's, with the SVD solver
  where the shrinkage exp(-(sum of the 32 largest PCA variances)) is at its floor 1e-10 and the eigen solver
  with that shrinkage otherwise, and its SVD solver's within-class scaling 1 / (N - C) as in scikit-learn
  before 1.6 (which their code ran on; scikit-learn 1.6 changed it to 1 / N). Their PCA is scikit-learn's
  (randomised above 500 rows or columns, unseeded); here it is exact. Multi-label: each term the mean over
  labels of its binary task's.
- ``knn`` (a baseline: Sorkhei et al. 2025 find it rivals the dedicated scores): the k-nearest-neighbour
  classifier's accuracy on the validation split, by the dataset's metric, neighbours among the training features
  by cosine similarity after standardising them as the probe does (the training split's mean and standard
  deviation); a class's score is its share of the k neighbours (ties: the lowest class, as scikit-learn's
  ``KNeighborsClassifier``). k is chosen from ``KNN_K`` by leave-one-out accuracy on the training split (at most
  ``KNN_SELECTION_ROWS`` of its examples, drawn with a fixed seed, as queries; the smallest k of the best), so its
  cost is O((KNN_SELECTION_ROWS + N_val) N_train D). The only estimator that reads the validation split.

Scores of one's own (``{"name", "python"}`` entries, ``config.TransferabilityOptions``): a function named by
``python`` (``functions.load_function``), called as ``f(features, labels)`` or, when it takes a third argument,
``f(features, labels, source_logits)`` (the source classifier's logits [N, Z], or None for a network without
one), on the training split's features [N, D] (float32) and labels ([N] class indices, or [N, C] 0/1); it returns
a finite number, higher predicting better transfer. What it raises or returns otherwise is a one-line error
naming it.

Features are used as extracted (not standardised), as in the estimators' papers. Multi-label datasets: LogME is
defined for several 0/1 targets (its classification case already is that); LEEP, NCE and H-score are defined
for one label per example, so each label is scored as a binary task (present or absent) and the scores are
averaged over labels: the result records it (``note``). LEEP and NCE need the source classifier: a network
without one gets no score and a note, not an error.

Each score's ``seconds`` is what that estimator alone costs once the features are read: LEEP's and NCE's include
running the source classifier on the features (``source_classifier_seconds``): the classifier the features file
holds, or, with ``--model``, the network loaded (the workflow's jobs read the file's, and never import torch).

    python -m transferstudy transferability FEATURES.h5 --out SCORES.json
    python -m transferstudy transferability FEATURES.h5 --model CHECKPOINT.pt --out SCORES.json
"""

from __future__ import annotations

import importlib
import inspect
import logging
import time

import numpy as np

from ..config import estimator_name
from ..data.subsets import draw
from ..errors import InputError, cause
from ..functions import load_function
from ..io import SPLIT_FILE_ATTRS, read_source_head, read_split_file, write_json
from ..provenance import library_versions, sha256_file
from ..settings import ESTIMATORS
from .checks import check_features

log = logging.getLogger(__name__)

# The estimators that need the source classifier's outputs.
NEED_SOURCE_CLASSIFIER = ("leep", "nce")
# MacKay's fixed point for LogME: converged when the evidence changes by less than this fraction.
LOGME_TOL = 1e-10
LOGME_MAX_ITER = 1000  # the fixed point can crawl (hundreds of steps) where the evidence is flat
PER_LABEL_NOTE = "multi-label: the mean over labels of each label's binary score"


def _targets(labels, multilabel):
    """The labels as a float [N, K] target matrix: one-hot columns, or the multi-label 0/1 columns."""
    labels = np.asarray(labels)
    if multilabel:
        return labels.astype(np.float64)
    classes = int(labels.max()) + 1
    return np.eye(classes)[labels.astype(int)]


def _spectrum(features):
    """The squared singular values of ``features`` [N, D] (those above round-off) and the projections that turn a
    target y into U^T y (the coordinates of y on the left singular vectors): through the smaller Gram matrix."""
    n, d = features.shape
    sigma, vectors = np.linalg.eigh(features.T @ features if n >= d else features @ features.T)
    keep = sigma > sigma.max() * max(n, d) * np.finfo(float).eps
    sigma, vectors = sigma[keep], vectors[:, keep]
    if n >= d:  # vectors are V: U^T y = S^-1 V^T F^T y
        return sigma, lambda y: (vectors.T @ (features.T @ y)) / np.sqrt(sigma)[:, None]
    return sigma, lambda y: vectors.T @ y  # vectors are U


def logme_evidence(sigma, z, y_norm2, n, d, *, alpha, beta):
    """The log evidence log p(y | F, alpha, beta) of Bayesian linear regression (Bishop, eq. 3.86) from the
    squared singular values ``sigma`` of F, the target's coordinates ``z`` = U^T y and ||y||^2."""
    t = alpha / beta
    mean_norm2 = np.sum(sigma * z ** 2 / (sigma + t) ** 2)  # ||m||^2
    residual2 = np.sum((t * z / (sigma + t)) ** 2) + max(y_norm2 - np.sum(z ** 2), 0.0)  # ||y - F m||^2
    log_det = np.sum(np.log(alpha + beta * sigma)) + (d - len(sigma)) * np.log(alpha)
    return (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - beta / 2 * residual2 - alpha / 2 * mean_norm2
            - log_det / 2 - n / 2 * np.log(2 * np.pi))


def _logme_column(sigma, z, y_norm2, n, d):
    """MacKay's fixed point for (alpha, beta) of one target column; returns (evidence, alpha, beta, converged).

    Converged when the evidence changes by less than ``LOGME_TOL`` (relative): where the features explain nothing
    of the target, the maximum is at alpha -> infinity (all weights zero), which the evidence reaches while
    alpha / beta keeps growing."""
    alpha, beta, evidence = 1.0, 1.0, -np.inf
    for _ in range(LOGME_MAX_ITER):
        t = alpha / beta
        gamma = np.sum(sigma / (sigma + t))  # effective number of parameters
        mean_norm2 = np.sum(sigma * z ** 2 / (sigma + t) ** 2)
        residual2 = np.sum((t * z / (sigma + t)) ** 2) + max(y_norm2 - np.sum(z ** 2), 0.0)
        alpha = gamma / max(mean_norm2, np.finfo(float).tiny)
        beta = (n - gamma) / max(residual2, np.finfo(float).tiny)
        previous, evidence = evidence, logme_evidence(sigma, z, y_norm2, n, d, alpha=alpha, beta=beta)
        if abs(evidence - previous) <= LOGME_TOL * max(1.0, abs(evidence)):
            return evidence, alpha, beta, True
    return evidence, alpha, beta, False


def logme(features, labels, multilabel=False):
    """LogME: the maximised evidence per example, averaged over the target columns. Returns (score, note): the
    note counts columns whose fixed point did not converge within ``LOGME_MAX_ITER`` iterations."""
    features = np.asarray(features, np.float64)
    targets = _targets(labels, multilabel)
    n, d = features.shape
    sigma, project = _spectrum(features)
    z = project(targets)
    evidences, stalled = [], 0
    for k in range(targets.shape[1]):
        evidence, _, _, converged = _logme_column(sigma, z[:, k], float(targets[:, k] @ targets[:, k]), n, d)
        evidences.append(evidence / n)
        stalled += not converged
    if stalled:
        log.warning("LogME: the fixed point did not converge for %d of %d label columns", stalled, targets.shape[1])
    note = f"fixed point not converged for {stalled} of {targets.shape[1]} columns" if stalled else ""
    return float(np.mean(evidences)), note


def _per_label(score_one, labels, multilabel, *args):
    """``score_one(labels, *args)`` for single-label data; the mean over labels of binary tasks for multi-label."""
    labels = np.asarray(labels)
    if not multilabel:
        return float(score_one(labels.astype(int), *args)), ""
    return float(np.mean([score_one(labels[:, k].astype(int), *args) for k in range(labels.shape[1])])), \
        PER_LABEL_NOTE


def _leep_single(labels, source_probabilities):
    n = len(labels)
    joint = np.zeros((labels.max() + 1, source_probabilities.shape[1]))
    np.add.at(joint, labels, source_probabilities / n)  # P(y, z)
    conditional = joint / np.maximum(joint.sum(axis=0, keepdims=True), np.finfo(float).tiny)  # P(y | z)
    expected = np.einsum("nz,nz->n", conditional[labels], source_probabilities)  # sum_z P(y_i | z) theta_z(x_i)
    return np.mean(np.log(expected))


def leep(source_probabilities, labels, multilabel=False):
    """LEEP from the source classifier's probabilities [N, Z] on the target examples. Returns (score, note)."""
    return _per_label(_leep_single, labels, multilabel, np.asarray(source_probabilities, np.float64))


def _nce_single(labels, source_labels):
    n = len(labels)
    joint = np.zeros((labels.max() + 1, source_labels.max() + 1))
    np.add.at(joint, (labels, source_labels), 1.0 / n)
    marginal = joint.sum(axis=0, keepdims=True)
    present = joint > 0
    return np.sum(joint[present] * np.log((joint / np.maximum(marginal, np.finfo(float).tiny))[present]))


def nce(source_probabilities, labels, multilabel=False):
    """NCE from the source classifier's hard labels (arg max of its probabilities [N, Z]). Returns (score, note)."""
    return _per_label(_nce_single, labels, multilabel, np.argmax(source_probabilities, axis=1))


def _hscore_single(labels, features, inverse_covariance, shrinkage):
    class_means = np.zeros_like(features)
    for k in np.unique(labels):
        rows = labels == k
        class_means[rows] = features[rows].mean(axis=0)
    class_means -= class_means.mean(axis=0)
    between = class_means.T @ class_means / len(features)  # cov(E[f | y])
    return np.trace(inverse_covariance @ ((1 - shrinkage) * between))


def ledoit_wolf(features):
    """The Ledoit-Wolf shrunk covariance (1 - a) S + a mu I of [N, D] features and its shrinkage a, S the maximum
    likelihood covariance and mu its mean eigenvalue: scikit-learn's ``LedoitWolf().fit`` (a = 0 in one
    dimension), as its formula."""
    x = features - features.mean(axis=0)
    n, d = x.shape
    covariance = x.T @ x / n
    mu = np.trace(covariance) / d
    if d == 1:
        return covariance, 0.0
    squared = x ** 2
    beta = (np.sum(squared.T @ squared) / n - np.sum(covariance ** 2)) / (d * n)
    delta = (np.sum(covariance ** 2) - 2 * mu * np.trace(covariance) + d * mu ** 2) / d
    shrinkage = 0.0 if min(beta, delta) == 0 else min(beta, delta) / delta
    return (1 - shrinkage) * covariance + shrinkage * mu * np.eye(d), float(shrinkage)


def hscore(features, labels, multilabel=False):
    """The shrinkage-regularised H-score. Returns (score, note)."""
    features = np.asarray(features, np.float64)
    covariance, shrinkage = ledoit_wolf(features)
    inverse = np.linalg.pinv(covariance, hermitian=True)
    return _per_label(_hscore_single, labels, multilabel, features, inverse, shrinkage)


def _fisher_probabilities(features, labels, classes, shrinkage):
    """Class probabilities [N, C] of the regularised Fisher discriminant (SFDA's), and its shrinkage (None: the
    adaptive one, from the within-class scatter)."""
    n, d = features.shape
    counts = np.bincount(labels, minlength=classes)
    priors = counts / n
    means = np.zeros((classes, d))
    np.add.at(means, labels, features)
    means /= counts[:, None]
    within = np.zeros((d, d))
    for k in range(classes):
        centred = features[labels == k] - means[k]
        within += priors[k] * (centred.T @ centred) / counts[k]
    if shrinkage is None:
        x = within.sum(axis=1)  # three power-iteration steps for its largest eigenvalue, as the authors' code
        for _ in range(3):
            y = within @ x
            y /= np.linalg.norm(y)
            x = within @ y
            x /= np.linalg.norm(x)
        shrinkage = max(np.exp(-5 * float(x @ within @ y)), 1e-10)
    shrunk = (1 - shrinkage) * within + shrinkage * np.trace(within) / d * np.eye(d)
    coef = np.linalg.solve(shrunk, means.T).T
    logits = features @ coef.T - 0.5 * np.einsum("kd,kd->k", means, coef) + np.log(priors)
    return softmax(logits), shrinkage, means


def _sfda_single(labels, features):
    classes, labels = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        return 1.0  # one class (a multi-label label present in every example): every example is classified right
    first, shrinkage, means = _fisher_probabilities(features, labels, len(classes), None)
    softened = softmax(first)  # the authors' exp(p) / sum exp(p): a softer confidence for the mixture
    confidence = softened[np.arange(len(labels)), labels][:, None]
    others = (means.sum(axis=0) - means) / (len(classes) - 1)  # each class's mean of the other classes' means
    mixed = confidence * features + (1 - confidence) * others[labels]
    second, _, _ = _fisher_probabilities(mixed, labels, len(classes), shrinkage)
    return float(np.mean(second[np.arange(len(labels)), labels]))


def sfda(features, labels, multilabel=False):
    """SFDA: the self-challenging Fisher discriminant's mean true-class probability. Returns (score, note)."""
    return _per_label(_sfda_single, labels, multilabel, np.asarray(features, np.float64))


TRANSRATE_EPS = 1e-4  # the authors' code's default (its eps stands for the paper's eps^2)


def _unit_rows(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), np.finfo(float).tiny)


def _rate_terms(z):
    """Eigenvalues of z^T z / n (a PSD matrix's, clipped at 0) and their numerical rank, as numpy's matrix_rank."""
    eigenvalues = np.clip(np.linalg.eigvalsh(z.T @ z / len(z)), 0.0, None)
    rank = int(np.sum(eigenvalues > eigenvalues.max() * len(eigenvalues) * np.finfo(float).eps))
    return eigenvalues, rank


def _transrate_single(labels, z):
    eigenvalues, rank = _rate_terms(z)
    rate = np.sum(np.log1p(eigenvalues / TRANSRATE_EPS))
    conditional = sum(np.mean(labels == k) * np.sum(np.log1p(_rate_terms(z[labels == k])[0] / TRANSRATE_EPS))
                      for k in np.unique(labels))
    return (rate - conditional) / (2 * max(rank, 1))


def transrate(features, labels, multilabel=False):
    """TransRate: the features' coding rate minus their class-conditional rate. Returns (score, note)."""
    z = _unit_rows(np.asarray(features, np.float64))
    z = _unit_rows(z - z.mean(axis=0))
    return _per_label(_transrate_single, labels, multilabel, z)


GBC_DIMENSIONS = 64  # the authors' PCA reduction
GBC_VARIANCE_FLOOR = 1e-4  # theirs too: a constant feature's variance


def _principal_components(features, k):
    """``features`` [N, D] centred and projected on their first ``k`` principal axes (scikit-learn's full-SVD PCA)."""
    centred = features - features.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:k].T


def _gbc_single(labels, reduced):
    classes = np.unique(labels)
    means = np.stack([reduced[labels == k].mean(axis=0) for k in classes])
    variances = np.array([np.maximum(reduced[labels == k].var(axis=0), GBC_VARIANCE_FLOOR).mean() for k in classes])
    total = 0.0
    for a in range(len(classes)):
        for b in range(len(classes)):
            if a != b:
                average = (variances[a] + variances[b]) / 2
                distance = (np.sum((means[a] - means[b]) ** 2 / average) / 8
                            + 0.5 * (np.log(average) - 0.5 * np.log(variances[a]) - 0.5 * np.log(variances[b])))
                total += np.exp(-distance)
    return -total


def gbc(features, labels, multilabel=False):
    """GBC: minus the summed Bhattacharyya coefficients between the classes' spherical Gaussians. Returns (score,
    note)."""
    features = np.asarray(features, np.float64)
    reduced = _principal_components(features, min(GBC_DIMENSIONS, *features.shape))
    return _per_label(_gbc_single, labels, multilabel, reduced)


KNN_K = (1, 3, 5, 10, 20)  # the neighbour counts k-NN chooses from
KNN_SELECTION_ROWS = 5000  # training examples (at most) that choose k by leave-one-out
KNN_CHUNK_ROWS = 1024  # queries per block of similarities: bounds the [queries, N_train] array
KNN_SEED = 0


def _nearest(queries, keys, k, exclude=None):
    """Indices [Q, k] of each query's ``k`` most similar ``keys`` (rows of unit length: cosine similarity),
    nearest first; ``exclude`` [Q]: a key index each query skips (itself, for leave-one-out)."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), KNN_CHUNK_ROWS):
        similarity = queries[start:start + KNN_CHUNK_ROWS] @ keys.T
        rows = np.arange(len(similarity))
        if exclude is not None:
            similarity[rows, exclude[start:start + KNN_CHUNK_ROWS]] = -np.inf
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        order = np.argsort(-similarity[rows[:, None], nearest], axis=1, kind="stable")
        out[start:start + len(similarity)] = np.take_along_axis(nearest, order, axis=1)
    return out


def _neighbour_votes(neighbours, targets, k):
    """Each class's share of the first ``k`` neighbours [Q, C] (the 0/1 label columns' mean, multi-label)."""
    return targets[neighbours[:, :k]].mean(axis=1)


def knn(features, labels, val_features, val_labels, metric, multilabel=False):
    """k-NN accuracy on the validation split, k chosen by leave-one-out on the training split. Returns (score,
    note)."""
    from ..metrics import score

    features, val_features = np.asarray(features, np.float64), np.asarray(val_features, np.float64)
    std = features.std(axis=0, ddof=1) if len(features) > 1 else np.ones(features.shape[1])
    mean, std = features.mean(axis=0), np.where(std > 0, std, 1.0)
    train, val = (_unit_rows((x - mean) / std) for x in (features, val_features))
    targets = _targets(labels, multilabel)
    choices = [k for k in KNN_K if k < len(train)] or [1]
    queries = np.arange(len(train))
    if len(queries) > KNN_SELECTION_ROWS:
        queries = np.sort(np.random.default_rng(KNN_SEED).choice(len(train), KNN_SELECTION_ROWS, replace=False))
    neighbours = _nearest(train[queries], train, max(choices), exclude=queries)
    held_out = [score(metric, np.asarray(labels)[queries], _neighbour_votes(neighbours, targets, k))
                for k in choices]
    k = choices[int(np.argmax(held_out))]
    value = score(metric, val_labels, _neighbour_votes(_nearest(val, train, k), targets, k))
    return value, f"k = {k} (leave-one-out on {len(queries)} of {len(train)} training examples)"


NCTI_DIMENSIONS = 64  # the authors' PCA reduction
NCTI_SHRINKAGE_PCS = 32  # the principal components whose variance sets the LDA's shrinkage
NCTI_SHRINKAGE_FLOOR = 1e-10
LDA_TOL = 1e-4  # scikit-learn's LinearDiscriminantAnalysis(tol), which drops directions below it
NCTI_TERMS = ("seli", "ncc", "vc")


def _lda(x, labels, classes, shrinkage):
    """scikit-learn's ``LinearDiscriminantAnalysis`` (the authors' era: scikit-learn < 1.6) fitted on ``x``:
    (the projection of ``x`` on its first C - 1 discriminant directions, its class probabilities of ``x``). Solver
    ``svd`` for ``shrinkage`` None, else ``eigen`` with that shrinkage."""
    from scipy import linalg as scipy_linalg  # here: planning imports this module for k-NN's constants

    n, d = x.shape
    priors = np.bincount(labels, minlength=classes) / n
    means = np.zeros((classes, d))
    np.add.at(means, labels, x)
    means /= np.bincount(labels, minlength=classes)[:, None]
    components = min(classes - 1, d)
    if shrinkage is None:
        centred = x - means[labels]
        std = centred.std(axis=0)
        std[std == 0] = 1.0
        _, s, vt = np.linalg.svd(np.sqrt(1.0 / (n - classes)) * (centred / std), full_matrices=False)
        rank = int(np.sum(s > LDA_TOL))
        scalings = (vt[:rank] / std).T / s[:rank]
        xbar = priors @ means
        between = (np.sqrt(n * priors / max(classes - 1, 1)) * (means - xbar).T).T @ scalings
        _, s, vt = np.linalg.svd(between, full_matrices=False)
        scalings = scalings @ vt.T[:, :int(np.sum(s > LDA_TOL * s[0]))]
        coef = (means - xbar) @ scalings
        intercept = -0.5 * np.sum(coef ** 2, axis=1) + np.log(priors)
        coef = coef @ scalings.T
        intercept -= xbar @ coef.T
        projected = (x - xbar) @ scalings
    else:
        def shrunk(rows):
            covariance = np.cov(rows.T, bias=True).reshape(d, d)
            return (1 - shrinkage) * covariance + shrinkage * np.trace(covariance) / d * np.eye(d)
        within = sum(priors[k] * shrunk(x[labels == k]) for k in range(classes))
        evals, evecs = scipy_linalg.eigh(shrunk(x) - within, within)
        evecs = evecs[:, np.argsort(evals)[::-1]]
        coef = means @ evecs @ evecs.T
        intercept = -0.5 * np.diag(means @ coef.T) + np.log(priors)
        projected = x @ evecs
    return projected[:, :components], softmax(x @ coef.T + intercept)


def _ncti_single(labels, reduced, shrinkage):
    classes, labels = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        return {"seli": 0.0, "ncc": 1.0, "vc": 0.0}
    projected, probabilities = _lda(reduced, labels, len(classes), shrinkage)
    projected = projected - projected.mean(axis=0)
    within = sum(np.linalg.norm(probabilities[labels == k], ord="nuc") for k in range(len(classes)))
    return {"seli": float(np.linalg.norm(projected, ord="nuc")),
            "ncc": float(np.mean(probabilities[np.arange(len(labels)), labels])), "vc": float(np.log(within))}


def ncti_terms(features, labels, multilabel=False):
    """NCTI's three terms of one model on one dataset (``NCTI_TERMS``), before their normalisation over models.
    Returns (terms, note)."""
    features = np.asarray(features, np.float64)
    n, d = features.shape
    reduced = _principal_components(features, min(NCTI_DIMENSIONS, n, d))
    variances = np.sort(np.var(reduced, axis=0, ddof=1))[::-1]
    shrinkage = max(np.exp(-variances[:NCTI_SHRINKAGE_PCS].sum()), NCTI_SHRINKAGE_FLOOR)
    shrinkage = None if shrinkage == NCTI_SHRINKAGE_FLOOR else float(shrinkage)
    labels = np.asarray(labels)
    if not multilabel:
        return _ncti_single(labels.astype(int), reduced, shrinkage), ""
    per_label = [_ncti_single(labels[:, k].astype(int), reduced, shrinkage) for k in range(labels.shape[1])]
    return {term: float(np.mean([t[term] for t in per_label])) for term in NCTI_TERMS}, PER_LABEL_NOTE


def ncti_scores(terms):
    """NCTI of each model from its terms ([M, 3] rows of seli, ncc, vc, one per model of a dataset): ncc + seli -
    vc, each min-max normalised over the models (a term the same for every model contributes 0)."""
    terms = np.asarray(terms, float)
    spread = np.ptp(terms, axis=0)
    normalised = np.divide(terms - terms.min(axis=0), spread, out=np.zeros_like(terms), where=spread > 0)
    return normalised[:, 1] + normalised[:, 0] - normalised[:, 2]


# The estimators computed from the features and labels alone.
FEATURE_ESTIMATORS = {"logme": logme, "hscore": hscore, "sfda": sfda, "transrate": transrate, "gbc": gbc}


def softmax(logits):
    logits = np.asarray(logits, np.float64)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


NO_SOURCE_CLASSIFIER = "undefined: the network has no source classifier"


def _takes_logits(function):
    return len(inspect.signature(function).parameters) >= 3


def _own_score(entry, function, features, labels, source_logits):
    """A score of one's own on the training split: (score, note)."""
    where = f"estimator {entry['name']} (python = {entry['python']!r})"
    try:
        score = function(features, labels, source_logits) if _takes_logits(function) else function(features, labels)
    except Exception as error:  # the user's code: whatever it raises is reported as its failure, in one line
        raise InputError(f"{where}: the function raised {cause(error)}") from error
    if isinstance(score, (bool, np.bool_)) or not isinstance(score, (int, float, np.integer, np.floating)) \
            or not np.isfinite(score):
        raise InputError(f"{where}: returned {score!r}; a score is one finite number, higher predicting better "
                         "transfer")
    return float(score), ""


NCTI_NOTE = "NCTI: its terms normalised over the models scored on the dataset"
NO_VALIDATION_SPLIT = "not scored: k-NN is scored on the validation split, and none was given"


def estimate(features, labels, multilabel, source_logits=None, estimators=ESTIMATORS, *,
             missing_source=NO_SOURCE_CLASSIFIER, functions=None, validation=None):
    """Every estimator of ``estimators`` (built-in names, or ``{"name", "python"}`` scores of one's own, whose
    functions ``functions`` may hold, by name, already loaded) on one training split: ``[{estimator, score,
    seconds, note}]``. Without source logits, LEEP and NCE get score None and ``missing_source`` as their note;
    k-NN needs ``validation``, (features, labels, metric) of the validation split."""
    functions = dict(functions or {})
    unknown = [entry for entry in estimators if isinstance(entry, str) and entry not in ESTIMATORS]
    if unknown:
        raise InputError(f"unknown estimator(s) {unknown}; valid: {', '.join(ESTIMATORS)}")
    probabilities = None if source_logits is None else softmax(source_logits)
    if "ncti" in set(map(estimator_name, estimators)):
        importlib.import_module("scipy.linalg")  # before the clock: importing it is not NCTI's cost
    rows = []
    for entry in estimators:
        name = estimator_name(entry)
        started = time.perf_counter()
        if isinstance(entry, dict):
            function = functions.get(name) or load_function(entry["python"])[0]
            score, note = _own_score(entry, function, features, labels, source_logits)
        elif name == "ncti":  # its terms; the score needs the other models' (``ncti_scores``)
            terms, note = ncti_terms(features, labels, multilabel)
            score, note = None, NCTI_NOTE + (f"; {note}" if note else "")
        elif name == "knn":
            score, note = (None, NO_VALIDATION_SPLIT) if validation is None else \
                knn(features, labels, *validation, multilabel)
        elif name in NEED_SOURCE_CLASSIFIER and probabilities is None:
            score, note = None, missing_source
        elif name in NEED_SOURCE_CLASSIFIER:
            score, note = {"leep": leep, "nce": nce}[name](probabilities, labels, multilabel)
        else:
            score, note = FEATURE_ESTIMATORS[name](features, labels, multilabel)
        rows.append({"estimator": name, "score": score, "seconds": round(time.perf_counter() - started, 4),
                     "note": note, **({"terms": terms} if name == "ncti" else {})})
        log.info("%s: %s (%.3f s)%s", name, score, rows[-1]["seconds"], f" ({note})" if note else "")
    return rows


def source_logits(model_reference, features, features_attrs, features_path):
    """The network's own source-class logits of the features (its original classifier on them), or None for a
    network without one. The network must be the one the features came from (checkpoint hash)."""
    import torch

    from ..nets import pretrained

    loaded = pretrained.load(model_reference)
    expected = features_attrs.get("checkpoint_sha256")
    if expected and loaded.info.sha256 and loaded.info.sha256 != expected:
        raise InputError(f"{model_reference}: its weights (sha256 {loaded.info.sha256[:12]}...) are not those "
                         f"{features_path} was extracted with ({expected[:12]}...); extract the features again")
    if loaded.head is None:
        return None
    with torch.no_grad():
        return loaded.head(torch.from_numpy(np.asarray(features, np.float32))).double().numpy()


def few_label_scores(train, validation, logits, multilabel, *, examples_per_class, seeds, **estimating):
    """The estimators on seeded subsets of ``examples_per_class`` examples per class of the training split (and of
    the validation split, for k-NN): the subsets of training-set-size curves (``data.subsets.draw``, nested over
    sizes). ``[{examples_per_class, seed, n_train, capped_classes, scores}]``; none for multi-label data."""
    if multilabel or not examples_per_class:
        return []
    features, labels = train
    out = []
    for shots in examples_per_class:
        for seed in range(seeds):
            rows, capped = draw(labels, shots, seed)
            held_out = None
            if validation is not None:
                val_rows, _ = draw(validation[1], shots, seed)
                held_out = (validation[0][val_rows], validation[1][val_rows], validation[2])
            scores = estimate(features[rows], labels[rows], False, None if logits is None else logits[rows],
                              validation=held_out, **estimating)
            out.append({"examples_per_class": shots, "seed": seed, "n_train": int(len(rows)),
                        "capped_classes": len(capped), "scores": scores})
    return out


def score_features(features_path, model_reference=None, out_path=None, *, estimators=ESTIMATORS,
                   examples_per_class=(), seeds=1):
    """The estimators on a features file's training split, and on its few-label subsets (``few_label_scores``:
    ``examples_per_class``, ``seeds``). LEEP and NCE (and scores of one's own that take logits) get the source
    classifier's logits from the classifier the features file holds (``io.SOURCE_HEAD``, computed in float32 as the
    network would), or, given ``model_reference`` (the checkpoint or zoo record the features came from), from the
    network itself. Returns (and optionally writes) the result."""
    started = time.perf_counter()
    names = set(map(estimator_name, estimators))
    splits, attrs = read_split_file(features_path, ("features", "labels"),
                                    splits=("train", "val") if "knn" in names else ("train",),
                                    required=SPLIT_FILE_ATTRS)
    features, labels = splits["train"]["features"], splits["train"]["labels"]
    multilabel = bool(attrs["multilabel"])
    check_features(features_path, splits, int(attrs["num_classes"]), multilabel)
    validation = (splits["val"]["features"], splits["val"]["labels"], attrs["metric"]) if "val" in splits else None
    logits, head_seconds = None, 0.0
    own = {entry["name"]: (entry, *load_function(entry["python"])) for entry in estimators if isinstance(entry, dict)}
    needs_logits = NEED_SOURCE_CLASSIFIER + tuple(name for name, (_, function, _) in own.items()
                                                  if _takes_logits(function))
    missing_source = NO_SOURCE_CLASSIFIER
    if names & set(needs_logits):
        if model_reference is not None:
            # Before the clock starts: importing torch and the networks is not LEEP's cost.
            from ..nets import architectures, network, pretrained  # noqa: F401
        head_started = time.perf_counter()
        if model_reference is not None:
            logits = source_logits(model_reference, features, attrs, features_path)
        else:
            head = read_source_head(features_path)
            if head is not None:  # the classifier the extraction stored: no network, no torch
                weight, bias = head
                logits = (np.asarray(features, np.float32) @ weight.T + bias).astype(np.float64)
            elif "source_classes" not in attrs:
                missing_source = ("not scored: the features file holds no source classifier (extracted before "
                                  "features files held it) and no model was given")
        head_seconds = round(time.perf_counter() - head_started, 4)
    estimating = {"estimators": estimators, "missing_source": missing_source,
                  "functions": {name: function for name, (_, function, _) in own.items()}}
    rows = estimate(features, labels, multilabel, logits, validation=validation, **estimating)
    for row in rows:  # what each would cost alone: LEEP and NCE need the source classifier run on the features
        if row["estimator"] in needs_logits and row["score"] is not None:
            row["seconds"] = round(row["seconds"] + head_seconds, 4)
    result = {
        "model": attrs.get("model"), "dataset": attrs.get("dataset"), "metric": attrs["metric"],
        "multilabel": multilabel, "split": "train", "n_train": int(len(labels)), "feature_dim": int(features.shape[1]),
        "n_val": None if validation is None else int(len(validation[1])),
        "source_classes": None if logits is None else int(logits.shape[1]),
        "source_classifier_seconds": head_seconds, "scores": rows,
        "few_labels": few_label_scores((features, labels), validation, logits, multilabel,
                                       examples_per_class=examples_per_class, seeds=seeds, **estimating),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "features": {"path": str(features_path), "sha256": sha256_file(features_path),
                     "checkpoint_sha256": attrs.get("checkpoint_sha256"), "split_seed": attrs.get("split_seed")},
        "versions": library_versions(),
    }
    if own:  # each score of one's own traced to its code
        result["own_estimators"] = [{**entry, "file": str(path), "file_sha256": sha256_file(path)}
                                    for entry, _, path in own.values()]
    if out_path is not None:
        write_json(out_path, result)
    return result
