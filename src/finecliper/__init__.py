"""FineCLIPER: multi-modal fine-grained CLIP with adapters for dynamic facial expression recognition.

The package is layered so that imports flow one way (docs/design.md §6):
errors <- labels, registry, config <- model, data <- datasets, cues, describe <- inference <- training
<- bench, demo <- cli. Datasets, cue kinds, cue backends, describers and backbones are registry entries.
"""

__version__ = "0.1.0"
