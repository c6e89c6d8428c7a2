"""aigif-tiny training: procedural dataset, pixel checker, CLIP BPE tokenizer builder, trainer.

- ``dataset``   procedural captioned shapes dataset (pure numpy + Pillow)
- ``checker``   pixel-based prompt-following checker (colour, shape, position)
- ``tokenizer`` the real CLIP BPE tokenizer files, from open-clip-torch's vocabulary
- ``train``     the reproducible training script (``python -m training.embedded.train``)
"""
