"""Tiny diffusers pipelines with seeded random weights, one per model family.

Built from configs (as diffusers' own tests do), saved with ``save_pretrained`` as
safetensors, so tests load them through the real ``from_pretrained`` path. Tokenizers are
built in memory (a byte-level CLIP BPE vocabulary without merges, a character Unigram T5
vocabulary): no hub download. Every builder returns the directory it wrote.
"""
from __future__ import annotations

from pathlib import Path

FAMILIES = ("sd", "sdxl", "sd3", "flux", "pixart_sigma", "lcm")


def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def clip_tokenizer(max_length: int = 16):
    from transformers import CLIPTokenizer
    chars = list(_bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


CLIP_VOCAB = 514


def t5_tokenizer(max_length: int = 16):
    from transformers import T5Tokenizer
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    pieces += [(c, -2.0) for c in "abcdefghijklmnopqrstuvwxyz0123456789,.!?'"]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=max_length)


T5_VOCAB = 48


def _clip_config(hidden: int = 32, projection: int | None = None):
    from transformers import CLIPTextConfig
    kw = dict(bos_token_id=CLIP_VOCAB - 2, eos_token_id=CLIP_VOCAB - 1,
              pad_token_id=CLIP_VOCAB - 1, hidden_size=hidden, intermediate_size=37,
              layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2,
              vocab_size=CLIP_VOCAB, max_position_embeddings=16, hidden_act="gelu")
    if projection is not None:
        kw["projection_dim"] = projection
    return CLIPTextConfig(**kw)


def _t5(d_model: int = 32):
    import torch
    from transformers import T5Config, T5EncoderModel
    torch.manual_seed(0)
    cfg = T5Config(vocab_size=T5_VOCAB, d_model=d_model, d_kv=8, d_ff=37, num_layers=2,
                   num_heads=4, relative_attention_num_buckets=8, pad_token_id=0,
                   eos_token_id=1, decoder_start_token_id=0)
    return T5EncoderModel(cfg)


def _vae(latent: int = 4, blocks=(4, 8), **kw):
    import torch
    from diffusers import AutoencoderKL
    torch.manual_seed(0)
    n = len(blocks)
    return AutoencoderKL(block_out_channels=list(blocks), in_channels=3, out_channels=3,
                         down_block_types=["DownEncoderBlock2D"] * n,
                         up_block_types=["UpDecoderBlock2D"] * n, latent_channels=latent,
                         norm_num_groups=2 if min(blocks) >= 2 else 1, sample_size=16, **kw)


def _sd_unet(time_cond_proj_dim=None):
    import torch
    from diffusers import UNet2DConditionModel
    torch.manual_seed(0)
    return UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=8, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
        norm_num_groups=2, time_cond_proj_dim=time_cond_proj_dim)


def _clip(hidden=32, projection=None):
    import torch
    from transformers import CLIPTextModel, CLIPTextModelWithProjection
    torch.manual_seed(0)
    if projection is None:
        return CLIPTextModel(_clip_config(hidden))
    return CLIPTextModelWithProjection(_clip_config(hidden, projection))


def build_sd(path):
    from diffusers import PNDMScheduler, StableDiffusionPipeline
    sched = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                          skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=_vae(), text_encoder=_clip(), tokenizer=clip_tokenizer(),
                                   unet=_sd_unet(), scheduler=sched, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    return _save(pipe, path)


def build_lcm(path):
    from diffusers import LatentConsistencyModelPipeline, LCMScheduler
    sched = LCMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         set_alpha_to_one=True, original_inference_steps=50)
    pipe = LatentConsistencyModelPipeline(
        vae=_vae(), text_encoder=_clip(), tokenizer=clip_tokenizer(),
        unet=_sd_unet(time_cond_proj_dim=8), scheduler=sched, safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)
    return _save(pipe, path)


def build_sdxl(path):
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=8, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
        use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=6 * 8 + 32, cross_attention_dim=64,
        norm_num_groups=2)
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                   beta_schedule="scaled_linear", steps_offset=1,
                                   timestep_spacing="leading")
    pipe = StableDiffusionXLPipeline(
        vae=_vae(), text_encoder=_clip(), tokenizer=clip_tokenizer(),
        text_encoder_2=_clip(32, 32), tokenizer_2=clip_tokenizer(), unet=unet,
        scheduler=sched, force_zeros_for_empty_prompt=True, add_watermarker=False)
    return _save(pipe, path)


def build_sd3(path):
    import torch
    from diffusers import (FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel,
                           StableDiffusion3Pipeline)
    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(
        sample_size=8, patch_size=1, in_channels=4, num_layers=1, attention_head_dim=8,
        num_attention_heads=4, caption_projection_dim=32, joint_attention_dim=32,
        pooled_projection_dim=64, out_channels=4)
    vae = _vae(shift_factor=0.0609, scaling_factor=1.5035, use_quant_conv=False,
               use_post_quant_conv=False)
    pipe = StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=vae, text_encoder=_clip(32, 32), tokenizer=clip_tokenizer(),
        text_encoder_2=_clip(32, 32), tokenizer_2=clip_tokenizer(),
        text_encoder_3=_t5(32), tokenizer_3=t5_tokenizer())
    return _save(pipe, path)


def build_flux(path):
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8])
    vae = _vae(latent=1, blocks=(4,), shift_factor=0.0609, scaling_factor=1.5035,
               use_quant_conv=False, use_post_quant_conv=False)
    pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae,
                        text_encoder=_clip(), tokenizer=clip_tokenizer(),
                        text_encoder_2=_t5(32), tokenizer_2=t5_tokenizer(),
                        transformer=transformer)
    return _save(pipe, path)


def build_pixart_sigma(path):
    import torch
    from diffusers import DPMSolverMultistepScheduler, PixArtSigmaPipeline, PixArtTransformer2DModel
    torch.manual_seed(0)
    transformer = PixArtTransformer2DModel(
        sample_size=8, num_layers=1, patch_size=2, attention_head_dim=8, num_attention_heads=3,
        caption_channels=32, in_channels=4, cross_attention_dim=24, out_channels=8,
        attention_bias=True, activation_fn="gelu-approximate", num_embeds_ada_norm=1000,
        norm_type="ada_norm_single", norm_elementwise_affine=False, norm_eps=1e-6)
    pipe = PixArtSigmaPipeline(tokenizer=t5_tokenizer(), text_encoder=_t5(32), vae=_vae(),
                               transformer=transformer, scheduler=DPMSolverMultistepScheduler())
    return _save(pipe, path)


BUILDERS = {"sd": build_sd, "sdxl": build_sdxl, "sd3": build_sd3, "flux": build_flux,
            "pixart_sigma": build_pixart_sigma, "lcm": build_lcm}

#: Per-family parameters of a tiny render (size, steps, params the tiny models need).
TINY_PARAMS = {
    "sd": dict(width=16, height=16, steps=2, scheduler="ddim"),
    "lcm": dict(width=16, height=16, steps=2, scheduler="lcm"),
    "sdxl": dict(width=16, height=16, steps=2, scheduler="euler"),
    "sd3": dict(width=16, height=16, steps=2, scheduler="flow_euler",
                params={"max_sequence_length": 8}),
    "flux": dict(width=16, height=16, steps=2, scheduler="flow_euler",
                 params={"max_sequence_length": 8}),
    "pixart_sigma": dict(width=16, height=16, steps=2, scheduler="dpmpp_2m",
                         params={"max_sequence_length": 8, "use_resolution_binning": False}),
}


def _save(pipe, path) -> Path:
    path = Path(path)
    pipe.save_pretrained(path, safe_serialization=True)
    return path


def build(family: str, path) -> Path:
    return BUILDERS[family](path)


# --------------------------------------------------------------------------- stages
# Tiny pieces for the generation stages (tests/test_render_stages.py): an SDXL refiner
# (StableDiffusionXLImg2ImgPipeline: second text encoder only, aesthetic-score time ids),
# a ControlNet matching the tiny SD UNet, and a LoRA for the tiny SD pipeline saved in
# diffusers' own LoRA format (``save_lora_weights``, safetensors).

def build_sdxl_refiner(path):
    import torch
    from diffusers import (EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline,
                           UNet2DConditionModel)
    torch.manual_seed(1)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=8, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
        use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=5 * 8 + 32, cross_attention_dim=32,
        norm_num_groups=2)
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                   beta_schedule="scaled_linear", steps_offset=1,
                                   timestep_spacing="leading")
    pipe = StableDiffusionXLImg2ImgPipeline(
        vae=_vae(), text_encoder=None, tokenizer=None, text_encoder_2=_clip(32, 32),
        tokenizer_2=clip_tokenizer(), unet=unet, scheduler=sched,
        requires_aesthetics_score=True, force_zeros_for_empty_prompt=True,
        add_watermarker=False)
    return _save(pipe, path)


def build_controlnet(path, seed: int = 2):
    """A ControlNet for the tiny SD UNet, with its zero convolutions given random weights
    (a freshly initialised ControlNet changes nothing, so a test of it could not fail)."""
    import torch
    from diffusers import ControlNetModel
    torch.manual_seed(seed)
    cn = ControlNetModel(
        block_out_channels=(4, 8), layers_per_block=1, in_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), cross_attention_dim=32,
        conditioning_embedding_out_channels=(8, 16), norm_num_groups=2)
    with torch.no_grad():
        for name, p in cn.named_parameters():
            if name.startswith(("controlnet_down_blocks", "controlnet_mid_block",
                                "controlnet_cond_embedding.conv_out")):
                p.normal_(0.0, 0.3)
    path = Path(path)
    cn.save_pretrained(path, safe_serialization=True)
    return path


def build_sd_lora(path, *, rank: int = 4, text_encoder: bool = False, seed: int = 3,
                  weight_name: str = "lora.safetensors"):
    """A LoRA for the tiny SD pipeline (UNet attention; with ``text_encoder=True`` the text
    encoder's too, which transformers 5 loads only with peft >= 0.22), random non-zero
    weights, saved with ``save_lora_weights`` as safetensors. Needs peft. Returns the
    file's path."""
    import torch
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig, get_peft_model_state_dict
    from diffusers.utils import convert_state_dict_to_diffusers
    unet, te = _sd_unet(), _clip()
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    layers = {"unet_lora_layers": None, "text_encoder_lora_layers": None}
    if text_encoder:
        te.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                  target_modules=["q_proj", "k_proj", "v_proj", "out_proj"]))
    torch.manual_seed(seed)
    with torch.no_grad():
        for m in (unet, te):
            for name, p in m.named_parameters():
                if "lora_" in name:
                    p.normal_(0.0, 0.5)
    layers["unet_lora_layers"] = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    if text_encoder:
        layers["text_encoder_lora_layers"] = convert_state_dict_to_diffusers(
            get_peft_model_state_dict(te))
    path = Path(path)
    StableDiffusionPipeline.save_lora_weights(path, weight_name=weight_name,
                                              safe_serialization=True, **layers)
    return path / weight_name
