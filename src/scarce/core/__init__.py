"""Foundations shared by every layer: errors, config, seeding, hashing, atomic io, progress."""
