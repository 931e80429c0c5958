"""Honest evaluation: protocols (repeated K-shot draws, repeated k-fold), metrics, intervals,
paired comparisons with the from-scratch baseline, learning curves, and the results file."""
