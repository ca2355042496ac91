"""Hamafza's benchmark: `python -m bench [--quick] [--profile]` (or `make bench`); see bench/README.md."""
