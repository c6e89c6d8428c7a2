"""aigif-tiny uses the real CLIP BPE tokenizer (vocabulary from the open-clip-torch wheel)."""
from __future__ import annotations

import pytest

pytest.importorskip("transformers")
from training.embedded import tokenizer as tk  # noqa: E402


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return tk.build_tokenizer(tmp_path_factory.mktemp("tok"))


def test_vocabulary_is_clips(tok):
    assert len(tok) == tk.VOCAB_SIZE == 49408
    assert tok.convert_tokens_to_ids(["<|startoftext|>", "<|endoftext|>"]) == [49406, 49407]
    # ids published with openai/CLIP's SimpleTokenizer
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert tok("a red circle").input_ids == [49406, 320, 736, 7117, 49407]


def test_packaged_tokenizer_matches_the_bpe_file(tok):
    from transformers import CLIPTokenizer

    from aigif.embedded import base_path      # the tokenizer every packaged model loads
    packaged = CLIPTokenizer.from_pretrained(str(base_path() / "tokenizer"))
    for text in ("a small red circle in the top left corner on a white background",
                 "two green diamonds on a gray background", "Hello, World! émoji ☃"):
        assert packaged(text).input_ids == tok(text).input_ids
    assert packaged.model_max_length == tk.MAX_LENGTH
