"""Benchmarks of the package's own code: speed and memory of the model, the data pipeline, cues and describers."""
