"""One small table per platform for the contract suite (`CASE`), named after the platform."""
