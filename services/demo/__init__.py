"""`make demo`: the whole job on embedded defaults and sandbox platforms, with sample items."""
