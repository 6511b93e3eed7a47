"""Training, evaluation, zero-shot and reports: the paper's protocols around the FineCLIPER model."""
