"""Records that last: everything people read (items, deliveries, amplifications, reach, dead letters)
in a SQL database, written by the recorder service; Redis keeps only work in flight."""
