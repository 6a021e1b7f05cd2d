#!/usr/bin/env python3
"""Fits the polynomials behind VerbaTensor's vectorized erfc (Sources/VerbaTensor/Kernels.swift, `erfcSIMD`).

erfc(u) = exp(-u^2) * erfcx(u) for u >= 0, where erfcx is smooth and slowly varying:
  u in [0, 1.5]:   erfcx(u)       ~ polynomial of degree 10 in (u - 0.75)
  u in [1.5, 10]:  erfcx(u) = g(t)/u with t = 1/u, g(t) ~ polynomial of degree 8 in (t - 0.38333333)
Coefficients minimize the relative error (weighted least squares on Chebyshev nodes, float64), then are
rounded to float32; the script prints the float64 and float32-Horner maximum relative errors
(about 1.4e-7 and 8.8e-8). Run: /work/pyenv/bin/python scripts/fit-erfc.py
"""
import math

import numpy as np


def erfcx(u):
    return math.erfc(u) * math.exp(u * u)


def horner32(c, x):
    x = np.float32(x)
    r = np.float32(c[-1])
    for a in c[-2::-1]:
        r = np.float32(np.float32(r * x) + np.float32(a))
    return r


def fit(f, lo, hi, deg, center):
    x = np.cos(np.linspace(0, np.pi, 5000)) * (hi - lo) / 2 + (hi + lo) / 2
    y = np.array([f(v) for v in x])
    vander = np.vander(x - center, deg + 1, increasing=True) / y[:, None]
    c, *_ = np.linalg.lstsq(vander, np.ones_like(y), rcond=None)
    xs = np.linspace(lo, hi, 20001)
    ys = np.array([f(v) for v in xs])
    err64 = np.max(np.abs(np.polynomial.polynomial.polyval(xs - center, c) - ys) / ys)
    c32 = c.astype(np.float32)
    err32 = max(abs(float(horner32(c32, np.float32(v - center))) - w) / w for v, w in zip(xs[::20], ys[::20]))
    return c32, err64, err32


for label, (f, lo, hi, deg, center) in {
    "near (u in [0, 1.5], variable u - 0.75)": (erfcx, 0.0, 1.5, 10, 0.75),
    "far (t = 1/u in [0.1, 2/3], variable t - 0.38333333)": (lambda t: erfcx(1 / t) / t, 0.1, 1 / 1.5, 8, 0.38333333),
}.items():
    c, e64, e32 = fit(f, lo, hi, deg, center)
    print(f"{label}: max relative error {e64:.2e} (float64), {e32:.2e} (float32 Horner)")
    print("  [" + ", ".join(repr(float(v)) for v in c) + "]")
