"""Middle-level cues (docs/design.md §5): 68 landmarks and an 11-class parsing map for every frame of a clip.

A leaf of the package: nothing in the model or data layers imports it, and its heavy imports
(mediapipe, OpenCV, transformers) happen inside functions. `pipeline` runs a manifest into a
`finecliper.data.cue_store.CueStore`; `finecliper cues` is its command line.
"""
