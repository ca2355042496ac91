"""Reach: metrics snapshots of every post and audience of every account (collect: the service;
snapshots: what it records), and the synergy report the council reads (report: read, compute,
render, html)."""
