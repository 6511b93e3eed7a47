"""Fine-grained descriptions of facial movement: the high-level cue pipeline (docs/design.md §1, §5).

`refine` removes every word, phrase or clause that names or implies an emotion (a lexicon shipped as
data plus rules); `landmark_describer` writes movement sentences from the cue store's landmark tracks
without any language model; `backends` runs a video LLM (Video-LLaVA, or another `transformers` video
chat model) from a local folder with the question of `prompt` (`prompts/default.yaml`); `pipeline` runs
a backend over a manifest into a resumable JSONL file read by the dataset
(`finecliper.data.descriptions`). This package is a leaf: nothing in the model or data layers imports
it, and its heavy imports happen inside functions.
"""
