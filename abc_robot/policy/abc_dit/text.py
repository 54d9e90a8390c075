"""The task embedding: CLIP ViT-B/32 text tower and its byte-level BPE tokenizer.

ABC conditions on the L2-normalized 512-D CLIP ViT-B/32 text embedding of a prompt;
a task name becomes the prompt with dashes and underscores turned into spaces
(:func:`task_prompt`). The weights are OpenAI's ``ViT-B-32.pt`` (a TorchScript
archive; only the text tower's entries are read) and the tokenizer's merge list
``bpe_simple_vocab_16e6.txt.gz`` from the same release, looked up in the directory
the user gives or in the usual cache (``~/.cache/clip``, where OpenAI's ``clip``
package and the ABC code download them). Nothing is downloaded here.

Written here rather than taken from open_clip, which depends on torchvision (see the
README). Text is lower-cased, HTML-unescaped and whitespace-collapsed as CLIP does;
ftfy's mojibake repair is not applied (plain task prompts never need it).
"""

from __future__ import annotations

import gzip
import html
import os
import warnings
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from abc_robot.errors import CheckpointError

__all__ = [
    "CLIP_WEIGHTS",
    "CLIP_VOCAB",
    "CLIP_SOURCE",
    "task_prompt",
    "find_clip_files",
    "BpeTokenizer",
    "ClipTextTower",
    "ClipTextEncoder",
]

CLIP_WEIGHTS = "ViT-B-32.pt"
CLIP_VOCAB = "bpe_simple_vocab_16e6.txt.gz"
CLIP_SOURCE = (
    "OpenAI CLIP's release (the `clip` package downloads both into ~/.cache/clip: "
    "clip.load('ViT-B/32'); the vocabulary is clip/bpe_simple_vocab_16e6.txt.gz in github.com/openai/CLIP)"
)
SOT, EOT = "<|startoftext|>", "<|endoftext|>"
_PATTERN = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def task_prompt(task_name: str) -> str:
    """ABC's prompt for a task name: ``open_the-pen_caps`` → ``open the pen caps``."""
    return " ".join(task_name.replace("-", " ").replace("_", " ").split())


def clip_cache_dirs() -> list[Path]:
    """Where CLIP files are looked for when no directory is given."""
    dirs = [os.environ.get("ABC_CLIP_DIR"), "~/.cache/clip"]
    return [Path(d).expanduser() for d in dirs if d]


def find_clip_files(where: str | Path | None = None) -> tuple[Path, Path]:
    """Paths of ``ViT-B-32.pt`` and its BPE vocabulary.

    Args:
        where: ``ViT-B-32.pt`` itself or the directory holding both; None searches
            ``$ABC_CLIP_DIR`` and ``~/.cache/clip``.

    Raises:
        CheckpointError: a file is missing (the message names it, where it was
            looked for, and where it comes from).
    """
    if where is not None and Path(where).expanduser().is_file():
        weights = Path(where).expanduser()
        dirs = [weights.parent]
    else:
        dirs = [Path(where).expanduser()] if where is not None else clip_cache_dirs()
        weights = next((d / CLIP_WEIGHTS for d in dirs if (d / CLIP_WEIGHTS).is_file()), dirs[0] / CLIP_WEIGHTS)
    looked = ", ".join(str(d) for d in dirs)
    if not weights.is_file():
        raise CheckpointError(
            f"{weights}: CLIP text weights {CLIP_WEIGHTS} not found (looked in {looked}); they come from {CLIP_SOURCE}. "
            "Give their path with --clip-weights, or give a precomputed embedding with --task-embedding."
        )
    vocab = next((d / CLIP_VOCAB for d in [weights.parent, *dirs] if (d / CLIP_VOCAB).is_file()), None)
    if vocab is None:
        raise CheckpointError(
            f"{weights.parent / CLIP_VOCAB}: CLIP tokenizer vocabulary {CLIP_VOCAB} not found beside {weights}; "
            f"it comes from {CLIP_SOURCE}"
        )
    return weights, vocab


@lru_cache
def _byte_alphabet() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte → printable character table."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class BpeTokenizer:
    """CLIP's byte-level BPE (vocabulary = bytes, bytes + ``</w>``, merges, SOT, EOT)."""

    def __init__(self, vocab_file: str | Path, merges: int = 49152 - 256 - 2) -> None:
        import regex

        with gzip.open(vocab_file, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")[1 : merges + 1]
        pairs: list[tuple[str, str]] = [(a, b) for a, b in (line.split() for line in lines if line.strip())]
        alphabet = list(_byte_alphabet().values())
        vocab = alphabet + [a + "</w>" for a in alphabet] + ["".join(p) for p in pairs] + [SOT, EOT]
        self.ids = {tok: i for i, tok in enumerate(vocab)}
        self.pairs = pairs
        self.rank = {p: i for i, p in enumerate(pairs)}
        self._pat = regex.compile(_PATTERN, regex.IGNORECASE)
        self._ws = regex.compile(r"\s+")
        self._memo: dict[str, list[str]] = {}

    def _merge(self, word: str) -> list[str]:
        if word in self._memo:
            return self._memo[word]
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            ranked = [(self.rank.get((a, b), -1), i) for i, (a, b) in enumerate(zip(parts, parts[1:], strict=False))]
            ranked = [r for r in ranked if r[0] >= 0]
            if not ranked:
                break
            a, b = self.pairs[min(ranked)[0]]
            merged: list[str] = []
            i = 0
            while i < len(parts):
                if i < len(parts) - 1 and parts[i] == a and parts[i + 1] == b:
                    merged.append(a + b)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        self._memo[word] = parts
        return parts

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (without SOT/EOT)."""
        text = self._ws.sub(" ", html.unescape(html.unescape(text)).strip()).strip().lower()
        table = _byte_alphabet()
        out: list[int] = []
        for piece in self._pat.findall(text):
            word = "".join(table[b] for b in piece.encode("utf-8"))
            out += [self.ids[t] for t in self._merge(word)]
        return out

    def context(self, text: str, length: int) -> torch.Tensor:
        """(length,) int64: SOT, the tokens, EOT, zero padding."""
        ids = [self.ids[SOT], *self.encode(text), self.ids[EOT]]
        if len(ids) > length:
            raise ValueError(f"prompt {text!r} is {len(ids)} tokens, longer than CLIP's context of {length}")
        out = torch.zeros(length, dtype=torch.long)
        out[: len(ids)] = torch.tensor(ids)
        return out


class _QuickGelu(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class _TextBlock(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, 4 * width))
        self.mlp.add_module("gelu", _QuickGelu())
        self.mlp.add_module("c_proj", nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class ClipTextTower(nn.Module):
    """CLIP's text transformer under OpenAI's key names, sized from a state dict."""

    mask: torch.Tensor
    TEXT_KEYS = ("token_embedding", "positional_embedding", "transformer.resblocks", "ln_final", "text_projection")

    def __init__(self, vocab: int, context: int, width: int, layers: int, embed: int) -> None:
        super().__init__()
        self.context_length = context
        self.token_embedding = nn.Embedding(vocab, width)
        self.positional_embedding = nn.Parameter(torch.zeros(context, width))
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.ModuleList(_TextBlock(width, width // 64 or 1) for _ in range(layers))
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.zeros(width, embed))
        self.register_buffer("mask", torch.full((context, context), float("-inf")).triu(1), persistent=False)

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> ClipTextTower:
        text = {k: v for k, v in sd.items() if k.startswith(cls.TEXT_KEYS)}
        layers = len({k.split(".")[2] for k in text if k.startswith("transformer.resblocks.")})
        ctx, width = text["positional_embedding"].shape
        tower = cls(text["token_embedding.weight"].shape[0], ctx, width, layers, text["text_projection"].shape[1])
        tower.load_state_dict(text, strict=True)
        return tower.eval()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (N, context) → (N, embed) L2-normalized features, read at each sequence's EOT."""
        x = (self.token_embedding(tokens) + self.positional_embedding).transpose(0, 1)
        for blk in self.transformer.resblocks:  # type: ignore[union-attr]
            x = blk(x, self.mask)
        x = self.ln_final(x.transpose(0, 1))
        f = x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ self.text_projection
        return f / f.norm(dim=-1, keepdim=True)


class ClipTextEncoder:
    """Prompt → 512-D task embedding, from ``ViT-B-32.pt`` and its vocabulary."""

    def __init__(self, weights: str | Path, vocab: str | Path) -> None:
        try:
            try:
                with warnings.catch_warnings():  # OpenAI's file is TorchScript: jit.load is the reader for it
                    warnings.simplefilter("ignore", DeprecationWarning)
                    sd = torch.jit.load(str(weights), map_location="cpu").state_dict()
            except RuntimeError:  # a plain state dict (or a re-saved checkpoint)
                sd = torch.load(str(weights), map_location="cpu", weights_only=True)
            self.tower = ClipTextTower.from_state_dict(dict(sd))
        except (RuntimeError, KeyError, OSError) as exc:
            raise CheckpointError(f"{weights}: not CLIP text weights ({str(exc).splitlines()[0]})") from exc
        self.tokenizer = BpeTokenizer(vocab)

    @torch.no_grad()
    def encode(self, prompt: str) -> torch.Tensor:
        """(embed,) float32 unit vector for ``prompt`` (exact text, see :func:`task_prompt`)."""
        return self.tower(self.tokenizer.context(prompt, self.tower.context_length)[None])[0].float()
