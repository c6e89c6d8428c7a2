"""Tiny diffusers video pipelines with seeded random weights, one per video family.

As ``_tiny_pipelines`` does for the image families: built from configs (diffusers' own
tests use configs of this size), saved with ``save_pretrained`` as safetensors and loaded
by the tests through the real ``from_pretrained``. Tokenizers are the in-memory ones of
``_tiny_pipelines`` (no hub download). Each builder returns the directory it wrote; the
AnimateDiff family writes two (an SD 1.5-shaped base pipeline and a MotionAdapter), as a
real AnimateDiff render loads two hub repositories.
"""
from __future__ import annotations

from pathlib import Path

from _tiny_pipelines import _clip, _save, _sd_unet, _t5, _vae, clip_tokenizer, t5_tokenizer

FAMILIES = ("animatediff", "cogvideox", "ltx", "wan", "t2vsd", "hunyuan")

#: The diffusers class each family's bare call uses.
PIPELINES = {"animatediff": "AnimateDiffPipeline", "cogvideox": "CogVideoXPipeline",
             "ltx": "LTXPipeline", "wan": "WanPipeline", "t2vsd": "TextToVideoSDPipeline"}


def build_animatediff_base(path):
    """An SD 1.5-shaped pipeline (what the model of an AnimateDiff file names)."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="linear",
                          clip_sample=False, steps_offset=1, timestep_spacing="linspace")
    pipe = StableDiffusionPipeline(vae=_vae(), text_encoder=_clip(), tokenizer=clip_tokenizer(),
                                   unet=_sd_unet(), scheduler=sched, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    return _save(pipe, path)


def build_motion_adapter(path, seed: int = 5):
    """A MotionAdapter for the tiny SD UNet (block channels 4, 8), with its zero-initialised
    output projections given random weights (an untouched adapter adds nothing to the
    UNet, so a test of it could not fail)."""
    import torch
    from diffusers import MotionAdapter
    torch.manual_seed(seed)
    ad = MotionAdapter(block_out_channels=(4, 8), motion_layers_per_block=1,
                       motion_norm_num_groups=2, motion_num_attention_heads=2,
                       motion_max_seq_length=16)
    with torch.no_grad():
        for name, p in ad.named_parameters():
            if "proj_out" in name:
                p.normal_(0.0, 0.3)
    path = Path(path)
    ad.save_pretrained(path, safe_serialization=True)
    return path


def build_cogvideox(path):
    import torch
    from diffusers import (AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXPipeline,
                           CogVideoXTransformer3DModel)
    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=4, attention_head_dim=8, in_channels=4, out_channels=4,
        time_embed_dim=2, text_embed_dim=32, num_layers=1, sample_width=2, sample_height=2,
        sample_frames=9, patch_size=2, temporal_compression_ratio=4, max_text_seq_length=8)
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8),
        latent_channels=4, layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4)
    pipe = CogVideoXPipeline(tokenizer=t5_tokenizer(), text_encoder=_t5(32), vae=vae,
                             transformer=transformer, scheduler=CogVideoXDDIMScheduler())
    return _save(pipe, path)


def build_ltx(path):
    import torch
    from diffusers import (AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline,
                           LTXVideoTransformer3DModel)
    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4,
        attention_head_dim=8, cross_attention_dim=32, num_layers=1, caption_channels=32)
    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False,) * 5, upsample_residual=(False,) * 4,
        upsample_factor=(1,) * 4, timestep_conditioning=False, patch_size=1, patch_size_t=1,
        encoder_causal=True, decoder_causal=False)
    pipe = LTXPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae,
                       text_encoder=_t5(32), tokenizer=t5_tokenizer(), transformer=transformer)
    return _save(pipe, path)


def build_wan(path):
    import torch
    from diffusers import (AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline,
                           WanTransformer3DModel)
    from transformers import UMT5Config, UMT5EncoderModel
    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    torch.manual_seed(0)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16,
        out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32)
    torch.manual_seed(0)
    te = UMT5EncoderModel(UMT5Config(
        vocab_size=48, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0))
    # Wan 2.1's shipped scheduler: UniPC on flow sigmas (flow_shift 3.0 for 480p)
    sched = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                    num_train_timesteps=1000, flow_shift=3.0)
    pipe = WanPipeline(tokenizer=t5_tokenizer(), text_encoder=te, vae=vae,
                       transformer=transformer, scheduler=sched)
    return _save(pipe, path)


def build_t2vsd(path):
    import torch
    from diffusers import DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel
    torch.manual_seed(0)
    unet = UNet3DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=4,
        out_channels=4, down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), cross_attention_dim=32,
        attention_head_dim=4, norm_num_groups=2)
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                          clip_sample=False, set_alpha_to_one=False)
    pipe = TextToVideoSDPipeline(vae=_vae(), text_encoder=_clip(), tokenizer=clip_tokenizer(),
                                 unet=unet, scheduler=sched)
    return _save(pipe, path)


BUILDERS = {"cogvideox": build_cogvideox, "ltx": build_ltx, "wan": build_wan,
            "t2vsd": build_t2vsd}


def build(family: str, path) -> dict[str, Path]:
    """Build ``family``'s tiny model(s) under ``path``: ``{"model": dir}``, plus
    ``"motion_adapter"`` for AnimateDiff."""
    path = Path(path)
    if family == "animatediff":
        return {"model": build_animatediff_base(path / "base"),
                "motion_adapter": build_motion_adapter(path / "adapter")}
    return {"model": BUILDERS[family](path)}


def byte_bpe_tokenizer(max_length: int = 128):
    """A byte-level BPE tokenizer without merges (one token per UTF-8 byte), built in
    memory as a ``PreTrainedTokenizerFast`` (what a Llama tokenizer loads as)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from _tiny_pipelines import _bytes_to_unicode
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2}
    for c in _bytes_to_unicode().values():
        vocab[c] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", model_max_length=max_length)


def build_hunyuan_video(path):
    """HunyuanVideo with diffusers' test-sized transformer and VAE, a 2-layer Llama (byte
    tokenizer) and a tiny CLIP. The pipeline's default Llama prompt template is used (as
    aigif renders it); its 95 cropped template tokens are part of every prompt here."""
    import torch
    from diffusers import (AutoencoderKLHunyuanVideo, FlowMatchEulerDiscreteScheduler,
                           HunyuanVideoPipeline, HunyuanVideoTransformer3DModel)
    from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaModel
    from _tiny_pipelines import CLIP_VOCAB
    torch.manual_seed(0)
    transformer = HunyuanVideoTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=10,
        num_layers=1, num_single_layers=1, num_refiner_layers=1, patch_size=1, patch_size_t=1,
        guidance_embeds=True, text_embed_dim=16, pooled_projection_dim=8, rope_axes_dim=(2, 4, 4))
    torch.manual_seed(0)
    vae = AutoencoderKLHunyuanVideo(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8),
        layers_per_block=1, act_fn="silu", norm_num_groups=4, scaling_factor=0.476986,
        spatial_compression_ratio=8, temporal_compression_ratio=4, mid_block_add_attention=True)
    torch.manual_seed(0)
    llama = LlamaModel(LlamaConfig(bos_token_id=0, eos_token_id=2, pad_token_id=1,
                                   hidden_size=16, intermediate_size=37, num_attention_heads=4,
                                   num_hidden_layers=2, vocab_size=260, hidden_act="gelu",
                                   max_position_embeddings=512))
    torch.manual_seed(0)
    clip = CLIPTextModel(CLIPTextConfig(
        bos_token_id=CLIP_VOCAB - 2, eos_token_id=CLIP_VOCAB - 1, pad_token_id=CLIP_VOCAB - 1,
        hidden_size=8, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        vocab_size=CLIP_VOCAB, max_position_embeddings=77, hidden_act="gelu",
        projection_dim=32))     # the pipeline encodes 77 CLIP tokens
    pipe = HunyuanVideoPipeline(text_encoder=llama, tokenizer=byte_bpe_tokenizer(),
                                transformer=transformer, vae=vae,
                                scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
                                text_encoder_2=clip, tokenizer_2=clip_tokenizer())
    return _save(pipe, path)


BUILDERS["hunyuan"] = build_hunyuan_video
PIPELINES["hunyuan"] = "HunyuanVideoPipeline"


def build_svd(path, seed: int = 0):
    """Stable Video Diffusion (image-to-video) with diffusers' test-sized spatio-temporal
    UNet and temporal-decoder VAE, a 2-layer CLIP vision encoder (224 px input, as the
    pipeline resizes the image to 224 for it; 32 px patches) and SVD's shipped scheduler
    (Euler, Karras sigmas, v-prediction, continuous timesteps). ``seed`` seeds the UNet."""
    import torch
    from diffusers import (AutoencoderKLTemporalDecoder, EulerDiscreteScheduler,
                           StableVideoDiffusionPipeline, UNetSpatioTemporalConditionModel)
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
    try:    # transformers >= 5 names the PIL-backed processor (no torchvision) explicitly
        from transformers import CLIPImageProcessorPil as CLIPImageProcessor
    except ImportError:
        from transformers import CLIPImageProcessor
    torch.manual_seed(seed)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=8,
        out_channels=4, num_attention_heads=(2, 4), cross_attention_dim=32,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        addition_time_embed_dim=32, projection_class_embeddings_input_dim=96, num_frames=4)
    torch.manual_seed(0)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=(32, 64), in_channels=3,
                                       out_channels=3, latent_channels=4,
                                       down_block_types=("DownEncoderBlock2D",) * 2)
    torch.manual_seed(0)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4,
        image_size=224, patch_size=32, intermediate_size=37))
    sched = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        interpolation_type="linear", num_train_timesteps=1000, prediction_type="v_prediction",
        sigma_max=700.0, sigma_min=0.002, steps_offset=1, timestep_spacing="leading",
        timestep_type="continuous", use_karras_sigmas=True)
    pipe = StableVideoDiffusionPipeline(vae=vae, image_encoder=encoder, unet=unet,
                                        scheduler=sched,
                                        feature_extractor=CLIPImageProcessor(crop_size=224,
                                                                             size=224))
    return _save(pipe, Path(path))


PIPELINES["svd"] = "StableVideoDiffusionPipeline"


def build_wan_i2v(path):
    """A Wan 2.1-style image-to-video checkpoint (``WanImageToVideoPipeline``: the tiny Wan
    VAE and text encoder of ``build_wan``, a transformer with image cross-attention
    (``image_dim``) over 36 input channels = latents, mask and image latents, and a tiny
    CLIP vision encoder), diffusers' test sizes."""
    import torch
    from diffusers import (AutoencoderKLWan, UniPCMultistepScheduler, WanImageToVideoPipeline,
                           WanTransformer3DModel)
    from transformers import CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel
    try:
        from transformers import CLIPImageProcessorPil as CLIPImageProcessor
    except ImportError:
        from transformers import CLIPImageProcessor
    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    torch.manual_seed(0)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36,
        out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
        image_dim=4)
    torch.manual_seed(0)
    te = UMT5EncoderModel(UMT5Config(
        vocab_size=48, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0))
    torch.manual_seed(0)
    encoder = CLIPVisionModel(CLIPVisionConfig(
        hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2,
        image_size=32, intermediate_size=16, patch_size=1))
    sched = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                    num_train_timesteps=1000, flow_shift=3.0)
    pipe = WanImageToVideoPipeline(tokenizer=t5_tokenizer(), text_encoder=te, vae=vae,
                                   transformer=transformer, scheduler=sched,
                                   image_encoder=encoder,
                                   image_processor=CLIPImageProcessor(crop_size=32, size=32))
    return _save(pipe, Path(path))


def build_cogvideox_i2v(path):
    """A CogVideoX image-to-video checkpoint (``CogVideoXImageToVideoPipeline``: the
    transformer takes the noisy latents and the image latents, 2 x 4 channels, with
    learned positional embeddings of its sample size, as CogVideoX-5b-I2V's), the tiny
    VAE and T5 of ``build_cogvideox``; diffusers' test sizes."""
    import torch
    from diffusers import (AutoencoderKLCogVideoX, CogVideoXDDIMScheduler,
                           CogVideoXImageToVideoPipeline, CogVideoXTransformer3DModel)
    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=8, out_channels=4,
        time_embed_dim=2, text_embed_dim=32, num_layers=1, sample_width=2, sample_height=2,
        sample_frames=9, patch_size=2, temporal_compression_ratio=4, max_text_seq_length=8,
        use_rotary_positional_embeddings=True, use_learned_positional_embeddings=True)
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8),
        latent_channels=4, layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4)
    pipe = CogVideoXImageToVideoPipeline(tokenizer=t5_tokenizer(), text_encoder=_t5(32),
                                         vae=vae, transformer=transformer,
                                         scheduler=CogVideoXDDIMScheduler())
    return _save(pipe, Path(path))


# --------------------------------------------------------------------------- LoRAs
#: family -> (the diffusers pipeline whose ``save_lora_weights`` writes the file, its
#: transformer class), for the transformer video families
LORA_TRANSFORMERS = {"wan": ("WanPipeline", "WanTransformer3DModel"),
                     "ltx": ("LTXPipeline", "LTXVideoTransformer3DModel"),
                     "cogvideox": ("CogVideoXPipeline", "CogVideoXTransformer3DModel"),
                     "hunyuan": ("HunyuanVideoPipeline", "HunyuanVideoTransformer3DModel")}


def build_video_lora(family: str, model_dir, path, *, rank: int = 4, seed: int = 7,
                     weight_name: str = "lora.safetensors"):
    """A LoRA for the tiny ``family`` model in ``model_dir`` (the transformer's attention
    projections), made with peft on the saved transformer, random non-zero weights (a
    fresh peft LoRA adds nothing: its B is zero), saved with the family pipeline's
    ``save_lora_weights`` as safetensors, the format diffusers' video LoRA loaders read.
    Returns the file's path."""
    import diffusers
    import torch
    from peft import LoraConfig, get_peft_model_state_dict
    pipe_cls, tr_cls = (getattr(diffusers, n) for n in LORA_TRANSFORMERS[family])
    tr = tr_cls.from_pretrained(Path(model_dir) / "transformer", use_safetensors=True)
    tr.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                              target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in tr.named_parameters():
            if "lora_" in name:
                p.normal_(0.0, 0.5)
    path = Path(path)
    pipe_cls.save_lora_weights(path, transformer_lora_layers=get_peft_model_state_dict(tr),
                               weight_name=weight_name, safe_serialization=True)
    return path / weight_name
