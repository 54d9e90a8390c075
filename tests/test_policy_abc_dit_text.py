"""The task embedding: CLIP BPE tokenizer, text tower from OpenAI's key names, files and cache."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from abc_robot.errors import CheckpointError
from abc_robot.policy.abc_dit.released import prepare_released, task_file
from abc_robot.policy.abc_dit.text import (
    CLIP_VOCAB,
    CLIP_WEIGHTS,
    BpeTokenizer,
    ClipTextEncoder,
    ClipTextTower,
    find_clip_files,
    task_prompt,
)

from .test_policy_abc_dit import _released_pt

MERGES = ["h e", "l l", "he ll", "b o", "bo t"]  # ranks 0..4


@pytest.fixture
def clip_dir(tmp_path: Path) -> Path:
    """A tiny CLIP: 5 merges, a 1-layer 64-wide tower with a 16-D projection (OpenAI's keys)."""
    d = tmp_path / "clip"
    d.mkdir()
    with gzip.open(d / CLIP_VOCAB, "wt", encoding="utf-8") as f:
        f.write("#version: tiny\n" + "\n".join(MERGES) + "\n")
    torch.manual_seed(0)
    tower = ClipTextTower(vocab=512 + len(MERGES) + 2, context=8, width=64, layers=1, embed=16)
    with torch.no_grad():
        for p in tower.parameters():
            p.copy_(torch.randn(p.shape) * 0.2)
    sd = {**tower.state_dict(), "visual.proj": torch.zeros(3), "logit_scale": torch.ones(())}  # image tower ignored
    torch.save(sd, d / CLIP_WEIGHTS)
    return d


def test_task_names_become_abc_prompts():
    assert task_prompt("throw_plastic_bottles-in_bin") == "throw plastic bottles in bin"
    assert task_prompt("  a__b  ") == "a b"


def test_bpe_merges_by_rank_and_maps_bytes_like_clip(clip_dir):
    tok = BpeTokenizer(clip_dir / CLIP_VOCAB)
    o_end = 256 + (ord("o") - ord("!"))  # "o</w>": bytes first, then bytes + </w>, in CLIP's printable order
    assert tok.encode("Hello") == [512 + 2, o_end]  # "hell" (merge 2) + "o</w>"
    # "bot</w>": b+o merge, but "bo t" does not apply to "t</w>"; "!" alone is "!</w>".
    assert tok.encode("bot  hello!") == [512 + 3, 256 + ord("t") - ord("!"), 512 + 2, o_end, 256 + 0]
    ctx = tok.context("hello", 8)
    assert ctx.tolist() == [512 + 5, 514, o_end, 512 + 6, 0, 0, 0, 0]  # SOT ... EOT, zero padding
    with pytest.raises(ValueError, match="longer than CLIP's context of 8"):
        tok.context("a b c d e f g", 8)


def test_text_embedding_is_a_unit_vector_read_at_the_end_token(clip_dir):
    enc = ClipTextEncoder(*find_clip_files(clip_dir))
    a, b = enc.encode("hello bot"), enc.encode("bot hello")
    assert a.shape == (16,) and abs(float(a.norm()) - 1.0) < 1e-5
    assert torch.equal(a, enc.encode("hello bot"))
    assert (a - b).abs().max() > 1e-3
    # The causal mask: the feature at EOT does not see the padding after it.
    toks = enc.tokenizer.context("hello bot", 8)[None]
    padded = toks.clone()
    padded[0, -1] = 7
    assert torch.allclose(enc.tower(toks), enc.tower(padded), atol=1e-6)


def test_missing_clip_files_name_the_file_and_its_source(tmp_path, clip_dir):
    with pytest.raises(CheckpointError, match=r"ViT-B-32.pt not found .*openai/CLIP.*--clip-weights"):
        find_clip_files(tmp_path / "nowhere")
    (clip_dir / CLIP_VOCAB).unlink()
    with pytest.raises(CheckpointError, match="bpe_simple_vocab_16e6.txt.gz not found beside"):
        find_clip_files(clip_dir / CLIP_WEIGHTS)


def test_the_prompt_is_encoded_once_and_cached_beside_the_checkpoint(tmp_path, clip_dir):
    pt = _released_pt(tmp_path)
    d = prepare_released(pt, prompt="hello bot", clip=clip_dir)
    cached = d / task_file("hello bot")
    want = ClipTextEncoder(*find_clip_files(clip_dir)).encode("hello bot").numpy()
    np.testing.assert_array_equal(np.load(cached), want)
    for f in clip_dir.iterdir():  # CLIP no longer needed: the directory is the cache
        f.unlink()
    assert prepare_released(pt, prompt="hello bot") == d
    assert prepare_released(pt) == d  # the prompt is remembered too
    with pytest.raises(CheckpointError, match="ViT-B-32.pt not found"):
        prepare_released(pt, prompt="a new prompt", clip=clip_dir)
