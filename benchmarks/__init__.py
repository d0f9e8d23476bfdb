"""Benchmarks: speed ratios measured side by side in one process (run: ``python -m benchmarks``)."""
