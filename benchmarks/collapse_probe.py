"""Collapse probe: does the guard catch a model trained on its own samples?

    .venv/bin/python benchmarks/collapse_probe.py                       # built-in corpus, 1000 docs, 6 generations
    .venv/bin/python benchmarks/collapse_probe.py --partition 2026-12-07 # a partition's synth.raw_corpus
    .venv/bin/python benchmarks/collapse_probe.py --out docs/collapse_probe

Same as ``synth probe``; the method and the figures measured here are in ``docs/collapse_probe.md``.
Prints the load average beside the wall time, since the machine is shared.
"""

from __future__ import annotations

import os
import sys

from synth_pipeline.cli import main

if __name__ == "__main__":
    print(f"load average before: {os.getloadavg()}")
    code = main(["probe", *sys.argv[1:]])
    print(f"load average after: {os.getloadavg()}")
    sys.exit(code)
