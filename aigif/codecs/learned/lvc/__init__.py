"""Learned video coding (issue 20): one code base, four schemes, video pixel payloads.

========  ====  ==============================================================  =========
key       code  scheme                                                          module
========  ====  ==============================================================  =========
envc      15    ENVC-small: cross-scale flows (dx, dy, scale) over a Gaussian   .envc
                pyramid volume of the reference, 5-D grid_sample
vlvc      16    VLVC-small: K = 2 voxel flows (dx, dy, dt) over the 2 previous  .vlvc
                decoded frames, per-block weights, polynomial flow prediction
ssvc      17    SSVC-small: semantically structured, one sub-stream per group   .ssvc
imclvc    18    IMCLVC-small: learned flow net, context mining, SR low-rate     .imclvc
========  ====  ==============================================================  =========

* :mod:`.bitstream` (no torch): the payload container (header, frame records), ``parse``
  (every limit checked first), ``crf_step``, the codec classes (``LvcCodec`` and one per
  scheme, registered in ``aigif.codecs``'s built-in table).
* :mod:`.scheme`: the shared encode/decode loop (I frame via ``sth-rdc-1``, P frames via
  the scheme + the conditional residual coder ``lvc-res-1``) and the ``Scheme`` hook.
* :mod:`.motion`: DIS flow estimation (encoder only, OpenCV), block flows in quarter pels,
  their integer-table symbol coding, dense flows, ``warp``, ``scale_space_warp``,
  ``voxel_warp``.
* :mod:`.residual` / :mod:`.residual_model`: the conditional residual coder.

Platform safety: every symbol is decoded with integer tables selected by integers already
decoded (flow table numbers, hyper-latent symbols through integer networks), never by a
float network run on decoded pixels. Reconstructions may drift by float rounding between
machines; each reference is rounded to uint8, so the drift does not accumulate freely
(``benchmarks/lvc_drift.py`` measures it).

Nothing here imports torch or numpy at module level.
"""
from __future__ import annotations

__all__: list[str] = []
