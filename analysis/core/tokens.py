"""Prompt tokens as the engine sees them, and the least the engine must evaluate for a set of prompts.

An engine that keeps the KV cache of its last prompt (llama.cpp's ``cache_prompt``) evaluates only the part of a
prompt after the longest prefix it shares with what the slot holds. For a set of prompts the least it can
evaluate is the number of nodes of the prefix trie of their token sequences (every distinct prefix once): a
single slot reaches it when the prompts run in the trie's depth-first order, that is sorted by token sequence.
(llama.cpp builds since late 2025 also keep earlier prompt states in host memory and may restore one that shares
a longer prefix than the slot's, so in a given order the single-slot count is an upper bound of what the engine
evaluates; the trie is a lower bound either way. The engine's own counts are recorded with every answer.)
This module gives the token sequences (the GGUF file's own tokenizer and chat template, read with the ``gguf``
package and rebuilt with Hugging Face ``tokenizers``; checked against the engine's own prompt counts in
``tests/core/test_tokens.py``), the trie minimum, and the tokens a single slot evaluates in a given order.

The tokenizer needs the dev dependencies ``gguf`` and ``tokenizers`` (installed by ``uv sync``, imported only when
it is used). :class:`SharedPrefixes` (the longest prefix each prompt shares with an earlier one) needs neither: the
plan's dry run uses it on prompt texts to bound what a provider's prompt cache serves (:mod:`analysis.core.pricing`).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path

# the pre-tokenizer of llama.cpp's LLAMA_VOCAB_PRE_TYPE_QWEN2 (the same as Qwen2's tokenizer.json)
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
               r"|\s+(?!\S)|\s+")
PRE_TOKENIZERS = {"qwen2": QWEN2_SPLIT}


class GGUFTokenizer:
    """The tokenizer and chat template stored in a GGUF file (byte-level BPE models: ``tokenizer.ggml.model`` gpt2)."""

    def __init__(self, path: str | Path):
        import gguf

        self.path = Path(path)
        reader = gguf.GGUFReader(str(self.path))
        f = reader.fields

        def value(key, default=None):
            return f[key].contents() if key in f else default

        self.model_kind = value("tokenizer.ggml.model")
        self.pre = value("tokenizer.ggml.pre")
        if self.model_kind != "gpt2" or self.pre not in PRE_TOKENIZERS:
            raise ValueError(f"{self.path.name}: tokenizer {self.model_kind!r} / pre-tokenizer {self.pre!r} is not "
                             f"supported here (only gpt2 byte-level BPE with {sorted(PRE_TOKENIZERS)})")
        self.vocab: list[str] = value("tokenizer.ggml.tokens")
        self.types: list[int] = value("tokenizer.ggml.token_type")
        self.merges: list[str] = value("tokenizer.ggml.merges")
        self.template: str = value("tokenizer.chat_template")
        self.bos_id = int(value("tokenizer.ggml.bos_token_id")) if "tokenizer.ggml.bos_token_id" in f else None
        self.bos = self.vocab[self.bos_id] if self.bos_id is not None else ""
        self.eos = self.vocab[value("tokenizer.ggml.eos_token_id")] if "tokenizer.ggml.eos_token_id" in f else ""
        self.add_bos = bool(value("tokenizer.ggml.add_bos_token", False))

    @cached_property
    def tokenizer(self):
        from tokenizers import AddedToken, Regex, Tokenizer, models, pre_tokenizers

        vocab = {t: i for i, t in enumerate(self.vocab)}
        merges = [tuple(m.split(" ", 1)) for m in self.merges]
        tok = Tokenizer(models.BPE(vocab, merges, ignore_merges=False))
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(PRE_TOKENIZERS[self.pre]), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
        # control (3) and user-defined (4) tokens are matched whole in a chat prompt, as llama.cpp does
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                for t, k in zip(self.vocab, self.types, strict=True) if k in (3, 4)])
        return tok

    @cached_property
    def _jinja(self):
        import jinja2

        env = jinja2.Environment(trim_blocks=False, lstrip_blocks=False, keep_trailing_newline=True)
        env.globals["raise_exception"] = lambda msg: (_ for _ in ()).throw(ValueError(msg))
        return env.from_string(self.template)

    def render(self, messages: Sequence[dict]) -> str:
        """The prompt text the engine evaluates for a chat request. A last assistant message is a prefill: the
        conversation before it with the generation prompt, then its text (llama.cpp's server does the same)."""
        msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
        prefill = None
        if msgs and msgs[-1]["role"] == "assistant":
            prefill = msgs.pop()["content"]
        text = self._jinja.render(messages=msgs, add_generation_prompt=True, bos_token=self.bos, eos_token=self.eos,
                                  tools=None)
        return text + (prefill or "")

    def ids(self, text: str) -> list[int]:
        out = self.tokenizer.encode(text, add_special_tokens=False).ids
        return ([self.bos_id] if self.add_bos and self.bos_id is not None else []) + out

    def prompt_ids(self, messages: Sequence[dict] | str) -> list[int]:
        if isinstance(messages, str):
            messages = json.loads(messages)
        return self.ids(self.render(messages))


def common_prefix(a: Sequence, b: Sequence) -> int:
    """Length of the longest common prefix of two sequences (token ids, or the characters of two strings): a
    binary search on slices, so long prompts compare at C speed."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class SharedPrefixes:
    """Sequences in the order they come, each asked once: :meth:`add` gives the longest prefix a new sequence
    shares with any earlier one (what a provider's prompt cache could hold of it). The earlier sequences are
    kept sorted: the longest common prefix with a set is the one with a neighbour in sorted order, the same fact
    :func:`trie_size` rests on.

    Cost: it holds every distinct sequence (a plan's prompt texts: about their total size in memory), and an insert
    moves the list's tail, so n sequences take time quadratic in n with a small constant. Measured here: 0.5 s for
    50,000 prompts of about 500 characters, 3.6 s for 200,000; a plan of a million prompts (Study 2 at paper
    scale) would spend a few minutes in it, beside its dry run of as many calls."""

    def __init__(self) -> None:
        self._seen: list = []

    def add(self, seq: Sequence) -> int:
        i = bisect.bisect_left(self._seen, seq)
        shared = max((common_prefix(self._seen[j], seq) for j in (i - 1, i) if 0 <= j < len(self._seen)), default=0)
        if i == len(self._seen) or self._seen[i] != seq:
            self._seen.insert(i, seq)
        return shared


def trie_size(seqs: Iterable[Sequence[int]]) -> int:
    """Nodes of the prefix trie of ``seqs``: every distinct token prefix counted once."""
    prev: Sequence[int] = ()
    total = 0
    for s in sorted({tuple(s) for s in seqs}):
        total += len(s) - common_prefix(prev, s)
        prev = s
    return total


def single_slot_evaluated(prompts: Iterable[Sequence[int]], after: Iterable[Sequence[int]] | None = None,
                          min_new: int = 1) -> int:
    """Tokens a single slot with prompt caching evaluates for ``prompts`` in this order: each prompt's tokens
    after its common prefix with the slot's cache, and at least ``min_new`` (llama.cpp re-evaluates the last
    prompt token to get its logits even when the whole prompt is cached). ``after[i]`` (the generated tokens
    of call i) is appended to the cache after call i, as the engine keeps them."""
    cache: Sequence[int] = ()
    total = 0
    after_it = iter(after) if after is not None else None
    for p in prompts:
        p = tuple(p)
        reuse = min(common_prefix(cache, p), max(len(p) - min_new, 0))
        total += len(p) - reuse
        cache = p + tuple(next(after_it) if after_it is not None else ())
    return total


STUDY_PREFIXES = ("bigfive", "illusion", "sycophancy", "therapy")


def stage_of(tag: str | None) -> str:
    """The collection stage a call's tag belongs to: a tag starting with a study id is that study's (the Big Five
    stage tags its calls with the instrument id, ``ipip_neo_120``, and is shown under that name)."""
    tag = tag or "(no tag)"
    return next((s for s in STUDY_PREFIXES if tag.startswith(s)), tag)


def stage_table(calls, tok: GGUFTokenizer):
    """Per collection stage of a response table (``data/published/responses.parquet`` or a store's ``calls``):
    calls, prompt tokens, generated tokens, the prompt tokens a single slot evaluates in the recorded call order
    (the engine's own counts where the calls recorded them, else simulated), and the trie minimum of the stage's
    prompts. A stage runs in its own process, so its cache starts cold and the minimum is per stage."""
    import polars as pl

    models = sorted(set(calls["model"].to_list())) if "model" in calls.columns else []
    if len(models) > 1:
        raise ValueError(f"the calls are of {len(models)} models ({', '.join(models)}); tokens, tries and the cache are "
                         "per model: give the calls of one model (filter on the model column).")
    rows = []
    df = calls.sort("created_at").with_columns(
        pl.col("tag").map_elements(stage_of, return_dtype=pl.String).alias("stage"))
    for (stage,), g in df.group_by("stage", maintain_order=True):
        prompts = [tok.prompt_ids(m) for m in g["messages"]]
        replies = [tok.ids(t or "") for t in g["text"]]
        metas = [json.loads(m or "{}") for m in g["meta"]]
        engine_total = [m.get("prompt_eval_count", m.get("prompt_tokens")) for m in metas]
        measured = [m.get("prompt_evaluated") for m in metas]
        rows.append({
            "stage": stage, "calls": g.height,
            "prompt_tokens": sum(map(len, prompts)),
            "engine_prompt_tokens_agree": sum(1 for p, e in zip(prompts, engine_total, strict=True) if e == len(p)),
            "generated_tokens": sum(int(m.get("eval_count") or (m.get("usage") or {}).get("completion_tokens") or 0)
                                    for m in metas),
            "evaluated_simulated": single_slot_evaluated(prompts, replies),
            "evaluated_measured": sum(measured) if all(isinstance(x, int) for x in measured) else None,
            "minimum": trie_size(prompts),
            "evaluated_sorted": single_slot_evaluated(sorted(prompts)),
            "latency_s": float(g["latency_s"].sum()),
        })
    out = pl.DataFrame(rows, infer_schema_length=None)
    return out.with_columns(
        (pl.coalesce("evaluated_measured", "evaluated_simulated") / pl.col("minimum")).round(3).alias("ratio"))
