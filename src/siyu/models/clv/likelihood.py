"""Log-likelihoods and their gradients for BG/NBD, MBG/NBD and Gamma-Gamma, vectorised over customers.

Each function takes the natural parameters and the per-customer summary arrays and returns
``(ll, grad)``: the per-customer log-likelihood and its gradient with respect to the parameters
(one row per parameter). Everything is written in logs with ``gammaln``/``betaln`` and a two-term
log-sum-exp, so 1,000,000 customers with hundreds of purchases stay finite.

- BG/NBD: Fader, Hardie & Lee (2005), "Counting your customers the easy way", Marketing Science
  24(2), eq. 6.
- MBG/NBD: Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison of models for
  customer base analysis", IJRM 24(3): a customer may also drop out right after the first purchase.
- Gamma-Gamma: Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves for customer base
  analysis", JMR 42(4); Fader & Hardie (2013), "The Gamma-Gamma model of monetary value", eq. 3.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

Array = np.ndarray


def _lse2(u: Array, v: Array, has_v: Array) -> tuple[Array, Array]:
    """``log(e^u + [has_v]·e^v)`` and the weight of the second term, ``[has_v]·e^v / (e^u + e^v)``."""
    v = np.where(has_v, v, -np.inf)
    m = np.maximum(u, v)
    eu, ev = np.exp(u - m), np.exp(v - m)
    total = eu + ev
    return m + np.log(total), ev / total


def bgnbd_loglik(r: float, alpha: float, a: float, b: float, x: Array, t_x: Array, T: Array) -> tuple[Array, Array]:
    """BG/NBD: ``x`` repeat purchases, the last at ``t_x``, observed for ``T`` since the first purchase."""
    rx = r + x
    a1 = gammaln(rx) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    u = -rx * np.log(alpha + T)
    has_v = x > 0
    bx1 = np.where(has_v, b + x - 1.0, 1.0)  # b + x − 1 > 0 wherever it is used
    v = np.log(a) - np.log(bx1) - rx * np.log(alpha + t_x)
    lse, w = _lse2(u, v, has_v)
    ll = a1 + a2 + lse

    d_r = digamma(rx) - digamma(r) + np.log(alpha) - (1 - w) * np.log(alpha + T) - w * np.log(alpha + t_x)
    d_alpha = r / alpha - (1 - w) * rx / (alpha + T) - w * rx / (alpha + t_x)
    d_a = digamma(a + b) - digamma(a + b + x) + w / a
    d_b = digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x) - w / bx1
    return ll, np.stack([d_r, d_alpha, d_a, d_b])


def mbgnbd_loglik(r: float, alpha: float, a: float, b: float, x: Array, t_x: Array, T: Array) -> tuple[Array, Array]:
    """MBG/NBD: like BG/NBD, but a customer may also drop out right after the first purchase."""
    rx = r + x
    a1 = gammaln(rx) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x + 1) - gammaln(b) - gammaln(a + b + x + 1)
    u = -rx * np.log(alpha + T)
    v = np.log(a) - np.log(b + x) - rx * np.log(alpha + t_x)
    lse, w = _lse2(u, v, np.ones_like(x, dtype=bool))
    ll = a1 + a2 + lse

    d_r = digamma(rx) - digamma(r) + np.log(alpha) - (1 - w) * np.log(alpha + T) - w * np.log(alpha + t_x)
    d_alpha = r / alpha - (1 - w) * rx / (alpha + T) - w * rx / (alpha + t_x)
    d_a = digamma(a + b) - digamma(a + b + x + 1) + w / a
    d_b = digamma(a + b) + digamma(b + x + 1) - digamma(b) - digamma(a + b + x + 1) - w / (b + x)
    return ll, np.stack([d_r, d_alpha, d_a, d_b])


def gamma_gamma_loglik(p: float, q: float, gamma: float, x: Array, m: Array) -> tuple[Array, Array]:
    """Gamma-Gamma: the mean ``m`` of a customer's ``x`` repeat order values (x ≥ 1, m > 0)."""
    px = p * x
    log_m, log_x, log_xm = np.log(m), np.log(x), np.log(x * m + gamma)
    ll = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(gamma)
          + (px - 1) * log_m + px * log_x - (px + q) * log_xm)
    d_p = x * (digamma(px + q) - digamma(px) + log_m + log_x - log_xm)
    d_q = digamma(px + q) - digamma(q) + np.log(gamma) - log_xm
    d_gamma = q / gamma - (px + q) / (x * m + gamma)
    return ll, np.stack([d_p, d_q, d_gamma])
