"""Benchmarks: SP-API quota utilisation, local cost and scaling, against the simulated marketplace.

    python benchmarks/run.py            # full run (about 16 minutes on 2 cores: 932 s measured)
    python benchmarks/run.py --quick    # small smoke run (about 1 minute)

See docs/performance.md for what each figure means and the latest results.
"""
