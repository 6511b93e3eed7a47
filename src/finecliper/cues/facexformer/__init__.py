"""FaceXFormer (Narayan et al., 2024): a Swin-B encoder and a two-way transformer decoder that give 68 face
landmarks and an 11-class face parsing map from one 224 x 224 face crop.

`network` holds the model, written here so that the authors' checkpoint loads without torchvision and their
code; `swin` and `two_way` are its encoder and decoder parts; `checkpoint` reads the authors' file without
running code from it and loads it strictly. Nothing is imported here: torch is heavy and the command line
must not wait for it.
"""
