"""Offline A/B batches: every input row through every arm, resumable, with a per-arm report.

``arms`` (the arms file and its pinned resolution), ``io`` (streaming row readers, output writers),
``journal`` (resume: progress file + manifest), ``work`` (one row × arm → one record), ``runner`` (local,
one shared engine), ``ray_runner`` (Ray Data) and ``report`` (scorecard per arm + chart).
"""
