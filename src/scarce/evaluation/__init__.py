"""Evaluation: baselines, intervals (protocols and metrics grow here)."""
