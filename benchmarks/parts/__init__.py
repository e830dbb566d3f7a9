"""The parts of ``python benchmarks/run.py``, one module each; ``run(config, bench)`` gives its figures.

``bench`` (:class:`benchmarks.parts.common.Bench`) is what the parts share: the work directory and
its Prefect server, the generated scenario, and the results of the parts that ran before. A part
returns its section of the results document (a list of rows for ``scaling`` and ``staleness``).
"""

PARTS = ("pipeline", "baseline", "scaling", "staleness", "pacer")
