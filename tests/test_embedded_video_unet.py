"""TinyVideoUNet's options for aigif-tiny-video-2: a trainable prompt pathway and prompt-drawn
trajectory channels. aigif-tiny-video's configuration (no options) builds the network its
frozen weights were trained as; the options change what the network can tell apart."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from aigif.embedded.video_unet import TinyVideoUNet, _Trajectories  # noqa: E402

V2 = dict(sample_size=32, num_frames=8, block_out_channels=(16, 32), input_skip=True,
          prompt_layers=1, trajectory_slots=2, max_tokens=32)


def test_v1_configuration_has_no_new_parts():
    torch.manual_seed(0)
    unet = TinyVideoUNet(sample_size=32, num_frames=8, block_out_channels=(16, 32))
    assert unet.prompt is None and unet.traj is None
    assert unet.conv_in.in_channels == 3 * 4 + 3
    assert not [k for k in unet.state_dict() if k.startswith(("prompt.", "traj."))]


def test_trajectory_channels_follow_the_predicted_path():
    traj = _Trajectories(dim=16, slots=2, heads=4)
    with torch.no_grad():
        traj.pool.proj.weight.zero_()
        # slot 0: x = 0.8 tau (left to right), y = 0; colour (1, 0, 0)
        traj.pool.proj.bias.copy_(torch.tensor([0, 0.8, 0, 0, 0, 0, 1, 0, 0]))
    maps = traj(torch.zeros(1, 5, 16), frames=8, h=16, w=16).view(8, 2, 5, 16, 16)
    red = maps[:, 0, 2]                                          # slot 0's red disc, per frame
    cols = red.sum(dim=1).argmax(dim=-1)                         # x of the disc's peak
    assert cols[0] < 3 and cols[-1] > 12 and torch.all(cols[1:] >= cols[:-1])
    assert torch.all(maps[:, 0, 3:] == 0)                        # no green, no blue
    xs = torch.linspace(-1, 1, 16)
    assert torch.allclose(maps[-1, 0, 0], (xs - 0.8).expand(16, 16))   # dx at the last frame
    assert torch.allclose(maps[0, 0, 1], xs[:, None].expand(16, 16))   # dy: y centre 0


def test_prompt_pathway_tells_token_order_apart_and_output_shape():
    torch.manual_seed(0)
    unet = TinyVideoUNet(**V2).eval()
    tokens = torch.randn(1, 32, 64)
    swapped = tokens.clone()
    swapped[:, [5, 7]] = tokens[:, [7, 5]]                       # same tokens, other order
    a, b = unet.prompt(tokens), unet.prompt(swapped)
    assert not torch.allclose(a.mean(1), b.mean(1), atol=1e-4)   # order reaches the pool
    x = torch.randn(2, 3, 8, 32, 32)
    out = unet(x, torch.tensor([10, 900]), torch.cat([tokens, swapped])).sample
    assert out.shape == x.shape


def test_trajectory_targets_and_loss_come_from_the_generator():
    import numpy as np

    from training.embedded import video_dataset
    from training.embedded.train_video import trajectory_loss, trajectory_targets

    rng = np.random.default_rng(0)
    one = video_dataset.clip_from_single(("red", "circle", "right", "", "white"), rng)
    two = video_dataset.clip_from_pair(("red", "circle", "down", "blue", "square", "up",
                                        "white"), rng)
    centres, rgb, mask = trajectory_targets([one, two], slots=2)
    assert mask.tolist() == [[1, 0], [1, 1]]
    assert torch.all(centres[0, 0, 1:, 0] > centres[0, 0, :-1, 0])      # rightwards
    assert torch.all(centres[1, 0, 1:, 1] > centres[1, 0, :-1, 1])      # downwards
    assert torch.all(centres[1, 1, 1:, 1] < centres[1, 1, :-1, 1])      # upwards
    assert rgb[0, 0, 0] > 0.5 and torch.all(rgb[0, 1] == 0) and rgb[1, 1, 2] > 0.5
    torch.manual_seed(0)
    unet = TinyVideoUNet(**V2)
    cond = torch.randn(2, 32, 64)
    kept = trajectory_loss(unet, cond, [one, two], torch.tensor([1.0, 1.0]))
    dropped = trajectory_loss(unet, cond, [one, two], torch.tensor([0.0, 0.0]))
    assert kept > 0.05 and float(dropped) == 0.0
