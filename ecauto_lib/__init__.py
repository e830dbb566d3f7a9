"""EC Auto: keep BASE listings' prices and visibility in step with Amazon.co.jp.

Plain, typed domain code. Nothing in this package imports Prefect: flows/ and tasks/ wrap it.
"""

__version__ = "0.1.0"
