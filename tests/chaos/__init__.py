"""Chaos run: real worker processes, SIGKILLs, a Redis restart and platform faults; then an audit.

`python -m tests.chaos --items 1000 --workers 3 --kills 10` (or `make chaos`); `tests/test_chaos_short.py`
runs a short version inside pytest. See `tests/chaos/run.py`.
"""
