"""Benchmarks of the package's real code paths (`finecliper bench`): speed, memory and sizes."""
