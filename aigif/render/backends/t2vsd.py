"""ModelScope text-to-video (``TextToVideoSDPipeline``: SD-style 3D UNet, CLIP text
encoder). diffusers has deprecated the pipeline (no fixes after 0.33.1) but still ships it.
"""
from __future__ import annotations

from .video import VideoBackend

__all__ = ["TextToVideoSDBackend"]


class TextToVideoSDBackend(VideoBackend):
    key = "text_to_video_sd"
    pipeline_class = "TextToVideoSDPipeline"
    pipeline_classes = ("TextToVideoSDPipeline",)
    well_known = ("modelscope-t2v-1.7b",)
    call_params = {"eta": (float, int)}
    hub_models = {"damo-vilab/text-to-video-ms-1.7b": "338683c3175cde59b407a699af8fe68f4a2b8f74"}
    # the pipeline has diffusers' SD LoRA loader, but its UNet3DConditionModel has no
    # load_lora_adapter (peft), so a LoRA of the UNet cannot be loaded into it
    lora_loader = False


backend = TextToVideoSDBackend()
