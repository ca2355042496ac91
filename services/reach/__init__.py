"""Reach: metrics snapshots of every post and audience of every account (collect), and the synergy
report the council reads (report: read, compute, render, html)."""
