#!/usr/bin/env python3
"""Writes sine.csv: x uniform in [0, 2*pi], y = sin(x) + N(0, 0.02) noise.

Deterministic (seeded), standard library only. Run from anywhere: python3 generate.py
"""
import math
import os
import random

SAMPLES = 1000
NOISE_SD = 0.02
SEED = 20240601

rng = random.Random(SEED)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sine.csv")
with open(out, "w", newline="\n") as f:
    for _ in range(SAMPLES):
        x = rng.uniform(0.0, 2.0 * math.pi)
        y = math.sin(x) + rng.gauss(0.0, NOISE_SD)
        f.write(f"{x:.6f},{y:.6f}\n")
