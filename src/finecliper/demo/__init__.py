"""`finecliper demo`: the whole pipeline on synthetic data, with a small CLIP the demo pretrains itself.

`pipeline` runs the stages (synth, manifest, cues, descriptions, pretraining, FineCLIPER training,
evaluation, report, ablation); `pretrain` and `vocabulary` make the small CLIP folder and its tokenizer;
`probe` scores single middle frames with a linear probe.
"""
