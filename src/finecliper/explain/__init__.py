"""What a checkpoint sees in one clip: attention maps of the adapted image tower per branch, the class-wise
cosine similarities to the PN sentences, the description and its weight (`finecliper explain`, docs/design.md §8).

Modules: `attention` (the tower's attention, recorded during the forward pass, and its rollout), `explainer`
(one clip through `finecliper.inference.Predictor` with the attention recorded: numbers), `figures` (the PNGs).
"""
