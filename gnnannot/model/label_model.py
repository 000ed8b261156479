"""Per-session logistic regression on appearance descriptors of scribbled nodes.

A small L2-regularised binary logistic regression fitted by Newton's method (IRLS with a
backtracking step), in numpy float64: deterministic, no iteration-order randomness, and a
few milliseconds for a few hundred samples of D ~ 64 features.

Objective (weights ``w``, bias ``b``, standardised features ``x̃ = (x - mean) / scale``)::

    Σ_i s_i [log(1 + exp(z_i)) - y_i z_i] / Σ_i s_i + (l2 / 2) |w|² / n_eff,
    z_i = w·x̃_i + b

with sample weights ``s_i`` (by default class-balanced: each class has half the total
weight) and ``n_eff`` the number of samples; the bias is not penalised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gnnannot.errors import DataError

__all__ = ["LogisticModel", "fit_logistic", "fit_object_models", "predict_object_probs"]


@dataclass(frozen=True)
class LogisticModel:
    """A fitted model: ``p(x) = σ(w · (x - mean) / scale + b)``.

    Attributes:
        weight: ``(D,)`` float64 weights on standardised features.
        bias: intercept.
        mean, scale: ``(D,)`` float64 standardisation.
        n_iter: Newton iterations used.
    """

    weight: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    n_iter: int = 0

    def raw_coef(self) -> tuple[np.ndarray, float]:
        """Weights and bias on unstandardised features: ``z = x · w_raw + b_raw``."""
        w_raw = self.weight / self.scale
        return w_raw, float(self.bias - self.mean @ w_raw)

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """``(N,)`` float64 logits of ``x`` ``(N, D)``."""
        w_raw, b_raw = self.raw_coef()
        return np.asarray(x, dtype=np.float64) @ w_raw + b_raw

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """``(N,)`` float32 probabilities of the positive class."""
        return _sigmoid(self.decision_function(x)).astype(np.float32)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _log1pexp(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None = None,
    l2: float = 1.0,
    mean: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    balance: bool = True,
    max_iter: int = 30,
    tol: float = 1e-8,
) -> LogisticModel:
    """Fit an L2 logistic regression.

    Args:
        x: ``(n, D)`` features (any float dtype).
        y: ``(n,)`` labels in {0, 1}; both classes must be present.
        sample_weight: optional ``(n,)`` non-negative weights (multiplied with the class
            balancing weights).
        l2: L2 strength (see module docstring); > 0 keeps separable data finite.
        mean, scale: standardisation (default: weighted statistics of ``x``); scale
            entries <= 1e-12 are replaced by 1.
        balance: give each class half of the total weight.
        max_iter, tol: Newton iteration limit and gradient-norm tolerance.

    Returns:
        The fitted :class:`LogisticModel`.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise DataError(f"logistic regression: expected x (n, D) and y (n,), found "
                        f"x {x.shape} and y {y.shape}")
    n, dim = x.shape
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64).copy()
    if balance:
        for cls in (0.0, 1.0):
            m = y == cls
            tot = s[m].sum()
            if tot > 0:
                s[m] *= 0.5 / tot
    pos, neg = s[y == 1].sum(), s[y == 0].sum()
    if pos <= 0 or neg <= 0:
        raise DataError(f"logistic regression: expected samples of both classes, found "
                        f"{int((y == 1).sum())} positive and {int((y == 0).sum())} negative")
    s /= s.sum()
    if mean is None:
        mean = s @ x
    if scale is None:
        scale = np.sqrt(np.maximum(s @ (x - mean) ** 2, 0.0))
    mean = np.asarray(mean, np.float64).reshape(dim)
    scale = np.asarray(scale, np.float64).reshape(dim)
    scale = np.where(scale > 1e-12, scale, 1.0)
    xa = np.empty((n, dim + 1))
    np.divide(x - mean, scale, out=xa[:, :dim])
    xa[:, dim] = 1.0
    lam = np.full(dim + 1, l2 / max(n, 1))
    lam[dim] = 1e-10  # bias: (almost) unpenalised

    def objective(theta: np.ndarray) -> float:
        z = xa @ theta
        return float(s @ (_log1pexp(z) - y * z) + 0.5 * lam @ theta**2)

    theta = np.zeros(dim + 1)
    # start the bias at the weighted log-odds
    theta[dim] = np.log(pos / neg)
    f = objective(theta)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (reported in the result)
        z = xa @ theta
        p = _sigmoid(z)
        grad = xa.T @ (s * (p - y)) + lam * theta
        if np.abs(grad).max() < tol:
            break
        hess = (xa * (s * p * (1.0 - p))[:, None]).T @ xa
        hess[np.diag_indices_from(hess)] += lam
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while True:
            cand = theta - t * step
            fc = objective(cand)
            if fc <= f + 1e-4 * t * (grad @ -step) or t < 1e-6:
                break
            t *= 0.5
        theta, f_old, f = cand, f, fc
        if abs(f_old - f) < 1e-14:
            break
    return LogisticModel(weight=theta[:dim].copy(), bias=float(theta[dim]), mean=mean,
                         scale=scale, n_iter=n_iter)


def fit_object_models(
    descriptors: np.ndarray,
    hits: np.ndarray,
    l2: float = 1.0,
    mean: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    max_pseudo_negatives: int = 2000,
    pseudo_negative_weight: float = 0.5,
) -> list[LogisticModel | None]:
    """Fit one "object k vs rest" model per object from scribble hits.

    Args:
        descriptors: ``(N, D)`` appearance descriptors of all nodes.
        hits: ``(K+1, N)`` scribble pixel counts per label (row 0 background, row k
            object k), see :func:`gnnannot.model.dynamic_features.count_scribble_hits`.
        l2, mean, scale: as in :func:`fit_logistic` (pass the statistics of all nodes).
        max_pseudo_negatives, pseudo_negative_weight: used when no node is scribbled with
            another label than k (no bg scribble, no other object): up to
            ``max_pseudo_negatives`` unscribbled nodes (a deterministic even stride) act
            as negatives whose total weight is ``pseudo_negative_weight`` times the
            positives' (a positive-unlabelled approximation).

    Returns:
        K entries, ``None`` for an object without fg scribbles (its probability is 0).

    A node counts as positive for k if ``hits[k] > 0`` and ``hits[k]`` is at least the
    sum of its other labels' hits, as negative if its other labels' hits exceed
    ``hits[k]``.
    """
    hits = np.asarray(hits)
    descriptors = np.asarray(descriptors)
    n_obj = hits.shape[0] - 1
    total = hits.sum(axis=0)
    models: list[LogisticModel | None] = []
    for k in range(1, n_obj + 1):
        own = hits[k]
        other = total - own
        pos = np.flatnonzero((own > 0) & (own >= other))
        if pos.size == 0:
            models.append(None)
            continue
        neg = np.flatnonzero(other > own)
        if neg.size:
            idx = np.concatenate([pos, neg])
            y = np.r_[np.ones(pos.size), np.zeros(neg.size)]
            models.append(fit_logistic(descriptors[idx], y, l2=l2, mean=mean, scale=scale))
            continue
        free = np.flatnonzero(total == 0)
        if free.size == 0:  # every node scribbled as k: nothing to contrast with
            models.append(None)
            continue
        step = max(1, int(np.ceil(free.size / max_pseudo_negatives)))
        neg = free[::step]
        idx = np.concatenate([pos, neg])
        y = np.r_[np.ones(pos.size), np.zeros(neg.size)]
        sw = np.r_[np.full(pos.size, 1.0 / pos.size),
                   np.full(neg.size, pseudo_negative_weight / neg.size)]
        models.append(fit_logistic(descriptors[idx], y, sample_weight=sw, l2=l2, mean=mean,
                                   scale=scale, balance=False))
    return models


def predict_object_probs(models: list[LogisticModel | None], descriptors: np.ndarray
                         ) -> np.ndarray:
    """``(K, N)`` float32 probabilities of each model on all nodes (0 for ``None``), with
    one ``(N, D) @ (D, K)`` product."""
    descriptors = np.asarray(descriptors)
    n = descriptors.shape[0]
    out = np.zeros((len(models), n), np.float32)
    live = [i for i, m in enumerate(models) if m is not None]
    if not live:
        return out
    coefs = [models[i].raw_coef() for i in live]  # type: ignore[union-attr]
    w = np.stack([c[0] for c in coefs], axis=1).astype(descriptors.dtype
                                                       if descriptors.dtype == np.float64
                                                       else np.float32)
    b = np.array([c[1] for c in coefs])
    z = (descriptors @ w).astype(np.float64) + b
    out[live] = _sigmoid(z).T.astype(np.float32)
    return out
