"""Imports every experiment module so each registers itself (one line per experiment)."""
