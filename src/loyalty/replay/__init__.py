"""Histories replayed and made up: the synthetic history generator (`generator`), for tests, benchmarks and forward
simulations of a program before launch."""
