"""Benchmarks of the package's stages (data, cues, describers, model), run by `finecliper bench`."""
