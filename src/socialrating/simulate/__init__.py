"""Simulation: a synthetic nation and its daily life."""
