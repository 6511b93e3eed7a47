"""Middle-level cues (docs/design.md §5): 68 landmarks and an 11-class parsing map for every frame of a clip.

A leaf of the package: nothing in the model or data layers imports it, and its heavy imports
(mediapipe, transformers) happen inside functions. `backends` holds the registries of landmark and
parsing backends, `extract` turns one clip into its cues, `pipeline` runs a manifest into a
`finecliper.data.cue_store.CueStore`; `finecliper cues` is its command line.
"""

# Every backend module registers itself on import; importing them here makes the registries complete
# whichever module of the package is imported first. They import nothing heavy at module level.
from finecliper.cues import facexformer_backend, mediapipe_backend, parsing_fill, segformer_backend  # noqa: F401
