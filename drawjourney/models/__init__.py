"""One file per model family: its frozen config, its module, its losses and its sampler.

Each file may register its family with the bench harness (`drawjourney.bench.register`).
"""
