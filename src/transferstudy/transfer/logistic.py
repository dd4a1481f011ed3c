"""The solver of the linear probe: L2-regularised logistic regression on fixed features, arrays in and solution
out, in torch on CPU or CUDA.

The objective matches scikit-learn's ``LogisticRegression(C=1/penalty)`` scaled by 1/N:
``mean_i loss_i + penalty / (2 N) * ||W||^2`` (bias unpenalised) over standardised features,
multinomial cross-entropy for single-label datasets and one binary logistic regression per class for
multi-label ones. A fit has converged when the largest absolute gradient entry is at most ``tol``
(scikit-learn's criterion).

It is the same problem scikit-learn solves, solved faster (docs/benchmarks.md): in float32 with a line
search that stays exact in float32, in whitened feature coordinates (an exact reparametrisation that
removes the features' correlations), with a per-class diagonal curvature estimate, with each fit able to
start from a previous solution *and* quasi-Newton memory (``shift_curvature_pairs``), with trial steps that
cost no matmul, and with a first step along a given guess at one matmul. The paper's protocol over it (the
penalty path, selection and refit) is ``transfer.probe``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from ..config import ProbeSolver


# The whitening basis is estimated from at most about this many (evenly strided) rows: it only conditions
# the problem, which stays exact whatever the basis.
COVARIANCE_ROWS = 8192
# Columns of the standardised gradient checked before the full mapping (``LogisticProblem.gradient_norm``).
WATCHED_COLUMNS = 32


@dataclass
class FitInfo:
    penalty: float
    iterations: int
    grad_norm: float
    converged: bool
    loss: float


class LogisticProblem:
    """The regularised logistic objective over one fitting set; parameters are [W | b] (C x (D+1)).

    With ``whiten``, the problem is solved in whitened feature coordinates: with standardised features of
    covariance V diag(e) V^T, the substitution W = A diag(e^-1/2) V^T turns the data term into one over
    whitened features (identity covariance) and the penalty into sum_j ||a_j||^2 / e_j, a diagonal weight.
    It is the same problem with the same optimum, but far better conditioned when features are correlated,
    as penultimate features are. Convergence is still judged on the gradient over the standardised
    features.

    ``held_out`` (raw features of rows not fitted, such as the validation split) are transformed into the
    same buffer, after the fitting rows: ``self.held_out`` is them in this problem's coordinates, and
    ``refit_problem`` fits all rows without copying them. Features are transformed and scored ``chunk_rows``
    at a time, so that no split's worth of intermediate copies is held (at the paper's largest shape, a
    split's features are a gigabyte).
    """

    def __init__(self, x, y, num_classes, multilabel, *, standardize=True, whiten=True, held_out=None,
                 chunk_rows=ProbeSolver.default("chunk_rows")):
        dtype, device = x.dtype, x.device
        self.mean = x.mean(0, keepdim=True) if standardize else torch.zeros_like(x[:1])
        std = x.std(0, keepdim=True) if standardize else torch.ones_like(x[:1])
        self.std = torch.where(std > 0, std, torch.ones_like(std))
        self.projection = None
        self.watched = None
        weight = torch.ones(x.shape[1], dtype=dtype, device=device)
        if whiten:
            # Any orthonormal basis with any positive scales gives an exact reparametrisation (the penalty
            # weights match the scales), so the covariance need only be roughly right, and tiny or negative
            # eigenvalues are raised rather than their directions dropped.
            # In the solver's dtype: float32's eigenvalues err by about 1e-7 of the largest, below the clamp.
            sample = x[::max(1, len(x) // COVARIANCE_ROWS)]
            xs = (sample - self.mean) / self.std
            eigvals, eigvecs = torch.linalg.eigh(xs.T @ xs / len(xs))
            scales = eigvals.clamp(min=eigvals.max().item() * 1e-6)
            self.projection = eigvecs / scales.sqrt()
            # Maps a whitened gradient (weights part) back to one over the standardised features.
            self.to_standardized = (eigvecs * scales.sqrt()).T
            weight = 1.0 / scales
        self.multilabel = multilabel
        self.num_classes = num_classes
        self.chunk_rows = chunk_rows
        extra = 0 if held_out is None else len(held_out)
        self.rows = torch.empty(len(x) + extra, x.shape[1] + 1, dtype=dtype, device=device)
        self.x = self.transform(x, out=self.rows[:len(x)])
        self.held_out = None if held_out is None else self.transform(held_out, out=self.rows[len(x):])
        self.targets = self.target_matrix(y)
        self.n = len(x)
        # Weight of each parameter column in the penalty: 1 (or 1/e_j whitened) for weights, 0 for the bias.
        self.penalized = torch.cat([weight, torch.zeros(1, dtype=dtype, device=device)])
        self.penalty = 0.0

    def target_matrix(self, y):
        """Labels as [N, C] targets: 0/1 rows as they are for multi-label, one-hot for class indices."""
        dtype = self.x.dtype
        if self.multilabel:
            return y.to(dtype)
        return torch.nn.functional.one_hot(y, self.num_classes).to(dtype)

    def refit_problem(self, held_out_y):
        """The same coordinates (standardisation and basis) over this fitting set plus the held-out rows (their
        labels ``held_out_y``), already transformed beside it: nothing is copied, and solutions carry over."""
        refit = copy.copy(self)
        refit.x = self.rows
        refit.targets = torch.cat([self.targets, self.target_matrix(held_out_y)])
        refit.n = len(refit.x)
        refit.held_out = None
        return refit

    def scores(self, theta, x):
        """Logits of raw features ``x``, through weights over standardised features: for a split scored
        once, cheaper than ``transform`` when whitening (D x C per row rather than D x D)."""
        weights = self.standardized_weights(theta)
        return torch.cat([((chunk - self.mean) / self.std) @ weights[:, :-1].T + weights[:, -1]
                          for chunk in x.split(self.chunk_rows)])

    def transform(self, x, out=None):
        """Features of any split in this problem's coordinates, with the bias column appended (into ``out``,
        rows x (D + 1), when given)."""
        if out is None:
            out = torch.empty(len(x), x.shape[1] + 1, dtype=x.dtype, device=x.device)
        for start in range(0, len(x), self.chunk_rows):
            xs = x[start:start + self.chunk_rows] - self.mean
            xs /= self.std
            if self.projection is not None:
                xs = xs @ self.projection
            out[start:start + len(xs), :-1] = xs
        out[:, -1] = 1
        return out

    def gradient_norm(self, grad, tol=None):
        """max |gradient| over the standardised features' weights and the bias: scikit-learn's criterion.

        Whitened, that takes a C x D x D mapping. With ``tol``, a lower bound is returned instead when it
        already exceeds ``tol`` (the fit goes on either way): the bias, then the standardised columns that
        held the largest entries at the last full mapping.
        """
        if self.projection is None:
            return grad.abs().max().item()
        bias = grad[:, -1].abs().max().item()
        if tol is not None and bias > tol:
            return bias
        if tol is not None and self.watched is not None:
            bound = (grad[:, :-1] @ self.to_standardized[:, self.watched]).abs().max().item()
            if bound > tol:
                return bound
        standardized = (grad[:, :-1] @ self.to_standardized).abs()
        self.watched = standardized.amax(0).topk(min(WATCHED_COLUMNS, standardized.shape[1])).indices
        return max(standardized.max().item(), bias)

    def standardized_weights(self, theta):
        """[W | b] over standardised features (undoing the whitening)."""
        if self.projection is None:
            return theta
        return torch.cat([theta[:, :-1] @ self.projection.T, theta[:, -1:]], 1)

    def zeros(self):
        return torch.zeros(self.targets.shape[1], self.x.shape[1], dtype=self.x.dtype, device=self.x.device)

    def data_term(self, logits):
        """Mean data loss and the residual d(loss)/d(logits) * N, from the logits alone (no matmul)."""
        if self.multilabel:
            loss = (torch.nn.functional.softplus(logits) - self.targets * logits).sum() / self.n
            return loss, torch.sigmoid(logits) - self.targets
        # One exp pass gives both the log-sum-exp and the softmax (torch.logsumexp alone costs a matmul's time).
        top = logits.max(1, keepdim=True).values
        exp = torch.exp(logits - top)
        total = exp.sum(1, keepdim=True)
        loss = (top + torch.log(total)).sum() / self.n - (logits * self.targets).sum() / self.n
        return loss, exp / total - self.targets

    def data_gradient(self, residual):
        return residual.T @ self.x / self.n

    def __call__(self, theta):
        """Loss and gradient at ``theta``."""
        loss, residual = self.data_term(self.x @ theta.T)
        return loss.item() + self.penalty_value(theta), self.data_gradient(residual) + self.penalty_gradient(theta)

    def penalty_gradient(self, theta):
        return self.penalty / self.n * (theta * self.penalized)

    def penalty_value(self, theta):
        return self.penalty / (2 * self.n) * (theta * self.penalized * theta).sum().item()

    def preconditioner(self, residual):
        """Diagonal inverse Hessian estimate at a point: per class k, the data term's curvature along each
        (standardised or whitened, so unit-variance) feature is about mean_i p_ik (1 - p_ik); the penalty
        adds penalty / N times the column's weight."""
        probabilities = residual + self.targets
        curvature = (probabilities * (1 - probabilities)).mean(0).clamp(min=1e-6)
        return 1.0 / (curvature[:, None] + self.penalty / self.n * self.penalized)


class _Line:
    """The objective along theta + t * direction. The logits move linearly, so after one matmul for
    X direction^T each trial step costs O(N C); only the accepted step's gradient needs another matmul."""

    def __init__(self, problem, theta, logits, direction, moves=None):
        self.problem, self.logits = problem, logits
        self.moves = problem.x @ direction.T if moves is None else moves
        weighted = direction * problem.penalized
        self.ww = (theta * problem.penalized * theta).sum().item()
        self.wd, self.dd = (theta * weighted).sum().item(), (direction * weighted).sum().item()
        self.scale = problem.penalty / problem.n

    def __call__(self, step):
        """Loss and slope at ``step``; keeps what the gradient at that step needs."""
        logits = self.logits + step * self.moves
        data_loss, residual = self.problem.data_term(logits)
        data_loss = data_loss.item()
        loss = data_loss + self.scale / 2 * (self.ww + 2 * step * self.wd + step * step * self.dd)
        slope = (residual * self.moves).sum().item() / self.problem.n + self.scale * (self.wd + step * self.dd)
        self.last = (logits, residual, data_loss)
        return loss, slope


def evaluate(problem, theta, logits=None):
    """What the solver keeps of a point: logits (given, or one matmul), data loss, residual and data gradient
    (one matmul)."""
    if logits is None:
        logits = problem.x @ theta.T
    data_loss, residual = problem.data_term(logits)
    return {"logits": logits, "data_loss": data_loss.item(), "residual": residual,
            "data_grad": problem.data_gradient(residual)}


def minimize_lbfgs(problem, theta, *, max_iter, tol, history_size, history=None, point=None, guess=None):
    """L-BFGS from ``theta`` (updated in place) until the gradient criterion or ``max_iter`` is met.

    ``history`` (a list of curvature pairs) and ``point`` (``evaluate(problem, theta)``), both updated in
    place, let a caller continue from an earlier fit's quasi-Newton memory and evaluation, as
    ``regularization_path`` does: a new penalty changes neither the logits nor the data gradient.
    ``guess`` (a direction and its logit changes X direction^T) is searched first, when it descends: a
    step whose line costs no matmul.

    Converged means max |gradient| <= ``tol``, scikit-learn's criterion. The line search also accepts
    Hager and Zhang's approximate Wolfe conditions: near the optimum a float32 loss cannot resolve the
    decrease the Armijo test asks for, but directional derivatives stay accurate, so the search keeps
    making progress where a loss-based search (torch.optim.LBFGS) stalls.
    """
    if point is None:
        point = evaluate(problem, theta)
    logits = point["logits"]
    loss = point["data_loss"] + problem.penalty_value(theta)
    grad = point["data_grad"] + problem.penalty_gradient(theta)
    h0 = problem.preconditioner(point["residual"])
    history = [] if history is None else history
    iterations = 0
    grad_norm = problem.gradient_norm(grad, tol)
    while grad_norm > tol and iterations < max_iter:
        direction, moves = guess if guess is not None else (None, None)
        guess = None
        slope = None if direction is None else (grad * direction).sum().item()
        if slope is None or slope >= 0:
            direction, moves = _two_loop(grad, history, h0), None
            slope = (grad * direction).sum().item()
            if slope >= 0:  # not a descent direction: restart from the preconditioned gradient
                history.clear()
                direction = -h0 * grad
                slope = (grad * direction).sum().item()
        line = _Line(problem, theta, logits, direction, moves)
        step, new_loss = _line_search(line, loss, slope)
        if step is None and moves is not None:  # the guess led nowhere: search the L-BFGS direction instead
            continue
        if step is None:  # no acceptable step: stop here, reported as not converged
            break
        loss = new_loss
        s = step * direction
        theta += s
        logits, residual, data_loss = line.last
        data_grad = problem.data_gradient(residual)
        new_grad = data_grad + problem.penalty_gradient(theta)
        y = new_grad - grad
        sy = (s * y).sum().item()
        if sy > 1e-12 * (y * y).sum().item():
            history.append((s, y, 1.0 / sy))
            del history[:-history_size]
        grad = new_grad
        grad_norm = problem.gradient_norm(grad, tol)
        h0 = problem.preconditioner(residual)
        point.update(logits=logits, data_loss=data_loss, residual=residual, data_grad=data_grad)
        iterations += 1
    if grad_norm > tol:  # stopped unconverged on what may be a lower bound: record the exact value
        grad_norm = problem.gradient_norm(grad)
    return FitInfo(problem.penalty, iterations, grad_norm, grad_norm <= tol, loss)


def _two_loop(grad, history, h0):
    """The L-BFGS direction -H grad, with H0 = h0 scaled by the latest curvature pair."""
    q = grad.clone()
    alphas = []
    for s, y, rho in reversed(history):
        alpha = rho * (s * q).sum()
        q -= alpha * y
        alphas.append(alpha)
    scale = h0
    if history:
        s, y, _ = history[-1]
        scale = h0 * ((s * y).sum() / (y * h0 * y).sum())
    q *= scale
    for (s, y, rho), alpha in zip(history, reversed(alphas)):
        q += (alpha - rho * (y * q).sum()) * s
    return -q


def _line_search(line, loss0, slope0, c1=1e-4, c2=0.9, max_evals=40):
    """Bracketing secant search for a (weak) Wolfe step on ``line``; returns (step, loss) or Nones."""
    noise = 1e-6 * abs(loss0) + 1e-12
    lo, slope_lo, hi, slope_hi = 0.0, slope0, None, None
    step = 1.0
    for _ in range(max_evals):
        loss, slope = line(step)
        curvature = slope >= c2 * slope0
        armijo = loss <= loss0 + c1 * step * slope0
        approximate = loss <= loss0 + noise and slope <= (2 * c1 - 1) * slope0
        if curvature and (armijo or approximate):
            return step, loss
        if slope < 0 and loss <= loss0 + noise:
            lo, slope_lo = step, slope
        else:
            hi, slope_hi = step, slope
        if hi is None:
            step *= 4.0
        else:
            width = hi - lo
            secant = lo - slope_lo * width / (slope_hi - slope_lo) if slope_hi > slope_lo else lo + width / 2
            step = min(max(secant, lo + 0.1 * width), hi - 0.1 * width)
    return None, None


def shift_curvature_pairs(history, delta, penalized):
    """Carry L-BFGS curvature pairs over to a penalty changed by ``delta`` (already divided by N).

    The data term's curvature does not depend on the penalty and the penalty's is exactly ``delta`` on the
    weights, so y = grad change becomes y + delta * s on the weights. Pairs whose curvature would no longer
    be positive are dropped.
    """
    shifted = []
    for s, y, _ in history:
        y = y + delta * s * penalized
        sy = (s * y).sum().item()
        if sy > 0:
            shifted.append((s, y, 1.0 / sy))
    history[:] = shifted
