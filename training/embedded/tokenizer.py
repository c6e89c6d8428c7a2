"""The real CLIP BPE tokenizer, built from the vocabulary that ships with open-clip-torch.

``clip_bpe/bpe_simple_vocab_16e6.txt.gz`` is OpenAI CLIP's byte-pair vocabulary as
distributed in the open-clip-torch wheel (MIT, see ``clip_bpe/LICENSE-open_clip``). It is
turned into the ``vocab.json`` + ``merges.txt`` pair that ``transformers.CLIPTokenizer``
reads, exactly as ``openai/CLIP``'s ``SimpleTokenizer`` derives its encoder: 256 byte
symbols, the same with ``</w>``, 48,894 merges, then ``<|startoftext|>`` (49406) and
``<|endoftext|>`` (49407): 49,408 ids.
"""
from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path

VOCAB_SIZE = 49408
BOS_ID = 49406
EOS_ID = 49407
MAX_LENGTH = 32   # aigif-tiny prompts are short; the text encoder has 32 positions


@lru_cache(maxsize=None)
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
    return dict(zip(bs, [chr(c) for c in cs]))


def bpe_merges() -> list[tuple[str, str]]:
    """The 48,894 merges of the CLIP vocabulary, in rank order."""
    path = Path(__file__).with_name("clip_bpe") / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").split("\n")
    lines = lines[1:49152 - 256 - 2 + 1]
    return [tuple(line.split()) for line in lines]  # type: ignore[misc]


def vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    merges = bpe_merges()
    vocab = list(_bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == VOCAB_SIZE
    return {tok: i for i, tok in enumerate(vocab)}, merges


def write_tokenizer_files(out_dir: str | Path) -> Path:
    """Write ``vocab.json``, ``merges.txt`` and the tokenizer config to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab, merges = vocab_and_merges()
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MAX_LENGTH,
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "do_lower_case": True,
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n",
                                               encoding="utf-8")
    (out / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}, indent=2) + "\n",
        encoding="utf-8")
    return out


def build_tokenizer(out_dir: str | Path):
    """Write the files and load them with ``transformers.CLIPTokenizer``."""
    from transformers import CLIPTokenizer
    return CLIPTokenizer.from_pretrained(str(write_tokenizer_files(out_dir)))
