"""Benchmarks of the loyalty engine: `python -m bench.confirm` (what `make bench` runs) and
`python -m bench.profile_confirm` (a cProfile of the confirm path in one process)."""
