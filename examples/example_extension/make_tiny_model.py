"""Write a tiny random unconditional model (8x8 pixels) to try the extension offline.

    python examples/example_extension/make_tiny_model.py /tmp/tiny-uncond
"""
from __future__ import annotations

import sys


def make(path: str) -> str:
    import torch
    from diffusers import DDIMPipeline, DDIMScheduler, UNet2DModel
    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=3, out_channels=3, layers_per_block=1,
                       block_out_channels=(8, 16), norm_num_groups=4,
                       down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"))
    DDIMPipeline(unet=unet, scheduler=DDIMScheduler()).save_pretrained(path)
    return path


if __name__ == "__main__":
    print(make(sys.argv[1] if len(sys.argv) > 1 else "tiny-uncond"))
