"""Data: manifests, clip reading, frame sampling, paired transforms, cue store and the training dataset."""
