"""Experiments: holdouts and split tests by store or city, and their statistics."""
