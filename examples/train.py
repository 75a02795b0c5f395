#!/usr/bin/env python3
"""A real training loop for Lego's transparent mode.

A two-layer perceptron (ReLU hidden layer, logistic output) learns a noisy
synthetic classification task by minibatch SGD over a data set of about
1 GiB (1 048 576 samples x 256 float32 features by default), printing the
loss of each epoch and the final accuracy on held-out data.  Everything is
seeded, so the output is the same on every run:

    /usr/bin/python3 examples/train.py                      # natively
    lego-run --excache 256M -- /usr/bin/python3 examples/train.py

Needs NumPy (Debian's python3-numpy, hence /usr/bin/python3).
"""
import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # same summation order every run
import numpy as np


def make_data(rng, n, d, chunk=65536):
    """Features, and labels from a fixed random linear rule plus noise."""
    w_true = rng.standard_normal(d).astype(np.float32)
    x = np.empty((n, d), dtype=np.float32)
    y = np.empty(n, dtype=np.float32)
    for i in range(0, n, chunk):
        j = min(i + chunk, n)
        x[i:j] = rng.standard_normal((j - i, d), dtype=np.float32)
        score = x[i:j] @ w_true + 0.5 * rng.standard_normal(j - i, dtype=np.float32)
        y[i:j] = (score > 0).astype(np.float32)
    return x, y


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=1 << 20)
    ap.add_argument("--features", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timing", action="store_true", help="also print seconds per phase")
    a = ap.parse_args()

    rng = np.random.default_rng(a.seed)
    t0 = time.time()
    x, y = make_data(rng, a.samples, a.features)
    n_test = a.samples // 16
    x_train, y_train = x[n_test:], y[n_test:]
    x_test, y_test = x[:n_test], y[:n_test]
    print(f"data: {a.samples} samples x {a.features} features, "
          f"{x.nbytes / 2**20:.0f} MiB, {n_test} held out")

    w1 = (rng.standard_normal((a.features, a.hidden)) / np.sqrt(a.features)).astype(np.float32)
    b1 = np.zeros(a.hidden, dtype=np.float32)
    w2 = (rng.standard_normal(a.hidden) / np.sqrt(a.hidden)).astype(np.float32)
    b2 = np.float32(0)
    t_data = time.time() - t0

    for epoch in range(a.epochs):
        t1 = time.time()
        total, count = 0.0, 0
        for i in range(0, len(x_train), a.batch):
            xb, yb = x_train[i:i + a.batch], y_train[i:i + a.batch]
            h = np.maximum(xb @ w1 + b1, 0)
            z = h @ w2 + b2
            p = 1 / (1 + np.exp(-z))
            eps = np.float32(1e-7)
            total += float(-np.sum(yb * np.log(p + eps) + (1 - yb) * np.log(1 - p + eps)))
            count += len(yb)
            g = (p - yb) / np.float32(len(yb))  # d loss / d z
            gw2 = h.T @ g
            gb2 = np.sum(g)
            gh = np.outer(g, w2) * (h > 0)
            gw1 = xb.T @ gh
            gb1 = gh.sum(axis=0)
            w1 -= np.float32(a.lr) * gw1
            b1 -= np.float32(a.lr) * gb1
            w2 -= np.float32(a.lr) * gw2
            b2 -= np.float32(a.lr) * gb2
        line = f"epoch {epoch + 1}: loss {total / count:.6f}"
        if a.timing:
            line += f" ({time.time() - t1:.2f} s)"
        print(line, flush=True)

    h = np.maximum(x_test @ w1 + b1, 0)
    acc = float(np.mean(((h @ w2 + b2) > 0) == (y_test > 0.5)))
    print(f"test accuracy: {acc:.4f}")
    if a.timing:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"data generation {t_data:.2f} s, total {time.time() - t0:.2f} s, "
              f"peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
