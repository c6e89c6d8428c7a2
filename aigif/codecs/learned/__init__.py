"""Learned pixel codecs: reusable building blocks, models and a zoo of frozen weights.

CompressAI's split (``/work/shared/STYLE.md``):

* :mod:`.layers` (torch): ``GDN`` / ``IGDN`` (Balle's generalized divisive normalization,
  non-negative reparametrization), ``conv``, ``deconv``, ``subpel_conv``.
* :mod:`.entropy` (torch + numpy): ``FactorizedPrior`` (learned per-channel density; its
  PMFs are frozen as 16-bit integer tables), ``GaussianConditional`` (likelihoods for
  training, a scale table whose PMFs are 16-bit integer tables), ``quantize_pmf``,
  ``gaussian_pmf_table``, ``scale_thresholds``.
* :mod:`.coding` (numpy + constriction, no torch): ``encode_tables`` / ``decode_tables``
  entropy-code integer symbols with integer frequency tables (rANS from ``constriction``),
  so a stream decodes to the same symbols on every machine.
* :mod:`.intnet` (numpy, no torch): integer-only conv / sub-pixel conv networks; a
  hyper-decoder run through it gives the same scale indices and means everywhere.
* :mod:`.models` (torch): ``MeanScaleHyperprior``.
* :mod:`.zoo`: ``load(key)`` reads frozen safetensors shipped in ``weights/``.

Nothing in this ``__init__`` imports torch: the codec classes that ``aigif.codecs``
registers (``.sth``) load torch only when they encode or decode.
"""
from __future__ import annotations

__all__: list[str] = []
