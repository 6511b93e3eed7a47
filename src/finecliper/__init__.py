"""FineCLIPER: multi-modal fine-grained CLIP with adapters for dynamic facial expression recognition.

The package is layered so that imports flow one way (DESIGN.md §6):
configuration and labels <- model <- training <- command line; labels <- data <- training.
Cue pipelines (landmarks, parsing, descriptions) are leaves nothing in the model imports.
"""

__version__ = "0.1.0"
