"""Typed configuration, one concept per module:

    strict.py      dataclasses from plain dicts and `key=value` overrides, refusing unknown keys and wrong types
    model.py       ModelConfig and the branch names of the two towers (IMAGE_BRANCHES, TEXT_BRANCHES, CUE_BRANCHES)
    experiment.py  ExperimentConfig: the model, the data (with its augmentation) and the optimisation of a run
    inherit.py     YAML experiment files and their `inherit:` chains
    loading.py     an ExperimentConfig from files or a dict: inheritance, the preset, `--set` overrides

Import from the modules themselves. This file imports nothing on purpose: loading.py imports
`finecliper.config.presets`, which imports model.py and strict.py, and a re-export here would run loading.py
whenever presets imports this package, closing a cycle.
"""
