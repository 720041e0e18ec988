"""Audience exports: marketing files (csv, parquet) and hashed ad-platform uploads (google, meta).

Entry point: ``exports.runner.export(settings, run_id, segment=None, fmt=None)``.
"""
