"""FineCLIPER: multi-modal fine-grained CLIP with adapters for dynamic facial expression recognition.

The package is layered so that imports flow one way (docs/design.md §6):
config <- model <- training <- predict, demo <- command line; labels <- data <- training.
The cue pipelines (cues/, describe/) use data/ and are imported by no module of config, model, data
or training.
"""

__version__ = "0.1.0"
