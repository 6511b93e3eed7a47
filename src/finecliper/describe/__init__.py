"""Fine-grained descriptions of facial movement: the high-level cue pipeline (docs/design.md §1, §5).

`refine` removes every word, phrase or clause that names or implies an emotion (a lexicon shipped as
data plus rules); `backends` says what a describer is and holds their registry; the describers are
`video_llava` and `hf_video` (video LLMs from a local folder, with the question of `prompt`,
`prompts/paper.yaml` by default), `landmarks` (movement sentences from the cue store's landmark tracks, worded by
`landmark_describer`, without any language model) and `captions`; `pipeline` runs a describer over a
manifest into a resumable JSONL file read by the dataset (`finecliper.data.descriptions`). This package
is a leaf: nothing in the model or data layers imports it, and its heavy imports happen inside functions.
"""

# Every describer registers itself on import; importing them here makes the registry complete whichever
# module of the package is imported first. In the order `--backend` lists them: the paper's first.
# isort: off
from finecliper.describe import video_llava, hf_video, landmarks, captions  # noqa: F401
# isort: on
