"""Getting answers from a model: cached generation, closed questions, and exact option probabilities.

Three ways in, shared by every study:

* ``generate``: one chat call, answered from the response store when the identical request
  (target, digest, messages, options, seed, sample index) was made before.
* ``ask_closed``: generation, a robust parser, and at most ``max_reasks`` re-asks with a format
  reminder; the outcome says how many attempts it took and whether it was parsed, refused or not
  parsed. Nothing is imputed.
* ``option_probs``: the probability of each allowed answer from the model's next-token
  distribution (top log-probabilities), following multi-token options by prefilling the assistant
  turn. Expected scores and the answer distribution at any temperature are then exact rather than
  sampled (for options that are single tokens, such as Likert digits).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TypeVar

from analysis.core import progress
from analysis.core.errors import BatchError, EmptyReply, LogprobsUnsupported
from analysis.core.models import GenOptions, Message, Target, TokenLogprob, make_target
from analysis.core.paths import response_store_path
from analysis.core.store import ResponseStore, request_key

T = TypeVar("T")
R = TypeVar("R")

REFUSAL = re.compile(
    r"\b(I('m| am) (sorry|unable)|I can(no|')t (answer|provide|help|comply|do that|respond)|as an AI\b|"
    r"I do(n't| not) have (personal )?(feelings|opinions|experiences|preferences|a personality|beliefs))",
    re.IGNORECASE,
)


@dataclass
class Reply:
    text: str
    call_id: str
    latency_s: float
    cached: bool
    logprobs: list[TokenLogprob] | None = None


@dataclass
class ClosedAnswer:
    value: Any | None
    status: str  # "ok" | "unparsed" | "refused"
    attempts: int
    texts: list[str]
    call_ids: list[str]

    @property
    def raw(self) -> str:
        return self.texts[-1] if self.texts else ""


# An answer scored from log-probabilities counts as valid only when the allowed options carry at least
# this share of the next-token probability. Below it the model mostly wanted to say something else
# (markup, "I", a refusal), and renormalising the small remainder over the options would invent an
# answer it did not give. 0.5 = most of the probability is on an allowed answer. The raw mass and the
# probabilities are always stored, so an analysis may apply a stricter threshold.
MIN_OPTION_MASS = 0.5


@dataclass
class OptionNode:
    """One forward pass of the option tree: the reply so far (``prefix``) and the top tokens after it.

    Each token is ``(text, p, kind, ref)``: kind ``child`` (it starts a longer option: ``ref`` is the
    index of the node expanded after it), ``option`` (it completes option ``ref``), ``pruned`` (it starts
    a longer option but carried less than ``min_branch``: not followed) or ``other`` (no option). At a
    node whose prefix is itself a complete option (``terminal``), every token that does not extend it
    ends that option ("1" followed by " cards"), as does the probability beyond the top-k (``tail``)."""

    prefix: str
    terminal: str | None
    tokens: list[tuple[str, float, str, object]]
    tail: float  # 1 - the probability of the returned top tokens


@dataclass
class OptionProbs:
    """Probabilities of the allowed options, normalised over them; ``mass`` is the raw total they
    carry (1 - mass went to anything else: other words, markup, refusals) and must be reported. The
    answer is ``valid`` only when ``mass >= min_mass`` (:data:`MIN_OPTION_MASS`).

    ``tree`` holds every conditional next-token distribution that was read (one :class:`OptionNode` per
    forward pass), so :meth:`at_temperature` can temper each token-level step as sampling does.
    ``truncated`` is the probability that reached a followed branch but lies beyond the top-k tokens
    there: how far the temperature results are from exact (they are exact for sampling with top-k =
    the number of log-probabilities read)."""

    probs: dict[str, float]
    mass: float
    call_ids: list[str] = field(default_factory=list)
    pruned: float = 0.0
    min_mass: float = MIN_OPTION_MASS
    tree: list[OptionNode] | None = None
    truncated: float = 0.0

    @property
    def valid(self) -> bool:
        return self.mass > 0 and self.mass >= self.min_mass

    @property
    def status(self) -> str:
        """'ok', 'low_option_mass' (some, but less than ``min_mass``) or 'no_option_mass'."""
        if self.valid:
            return "ok"
        return "low_option_mass" if self.mass > 0 else "no_option_mass"

    def expected(self, values: dict[str, float] | None = None) -> float:
        if not self.valid:
            return math.nan
        vals = values or {o: float(o) for o in self.probs}
        return sum(p * vals[o] for o, p in self.probs.items())

    def at_temperature(self, temperature: float) -> dict[str, float]:
        """The distribution over the options when the reply is sampled token by token at ``temperature``
        (conditional on the reply being one of the options).

        Every step of the option tree is tempered as a sampler does: at each node the top-k token
        probabilities become p^(1/T) / sum(p^(1/T)), and an option's probability is the product along
        its path. This is exact for sampling with top-k = the number of log-probabilities read (the
        mass beyond them is ``truncated``). T = 0 is greedy decoding: the most likely token at every
        step; when that token is no option, greedy decoding gives no option and every entry is NaN.
        Without a tree (single-token options scored elsewhere) the option probabilities are tempered."""
        if not self.valid:
            return {o: math.nan for o in self.probs}
        if not self.tree:
            return _temper_flat(self.probs, temperature)
        if temperature <= 0:
            return self._greedy()
        inv = 1.0 / temperature
        credit = {o: 0.0 for o in self.probs}

        def walk(i: int, weight: float) -> None:
            node = self.tree[i]
            toks = [(tok, p, kind, ref) for tok, p, kind, ref in node.tokens if p > 0]
            if not toks:
                return
            m = max(math.log(p) for _, p, _, _ in toks)
            w = [math.exp(inv * (math.log(p) - m)) for _, p, _, _ in toks]
            z = sum(w)
            for (_tok, _p, kind, ref), wi in zip(toks, w):
                q = weight * wi / z
                if kind == "child":
                    walk(ref, q)
                elif kind == "option":
                    credit[ref] += q
                elif kind == "other" and node.terminal is not None:
                    credit[node.terminal] += q

        walk(0, 1.0)
        total = sum(credit.values())
        if total <= 0:
            return {o: math.nan for o in self.probs}
        return {o: v / total for o, v in credit.items()}

    def _greedy(self) -> dict[str, float]:
        """The limit T -> 0: the most likely token at every step (exact ties share the weight). A path
        whose most likely token is no option (or a branch that was not followed) gives no option: if
        all the weight goes there, every entry is NaN."""
        credit = {o: 0.0 for o in self.probs}
        lost = 0.0

        def walk(i: int, weight: float) -> None:
            nonlocal lost
            node = self.tree[i]
            if not node.tokens:
                if node.terminal is not None:
                    credit[node.terminal] += weight
                else:
                    lost += weight
                return
            top = max(p for _, p, _, _ in node.tokens)
            best = [x for x in node.tokens if x[1] >= top * (1 - 1e-12)]
            for _tok, _p, kind, ref in best:
                q = weight / len(best)
                if kind == "child":
                    walk(ref, q)
                elif kind == "option":
                    credit[ref] += q
                elif kind == "other" and node.terminal is not None:
                    credit[node.terminal] += q
                else:
                    lost += q

        walk(0, 1.0)
        total = sum(credit.values())
        if total <= 0:
            return {o: math.nan for o in self.probs}
        return {o: v / total for o, v in credit.items()}

    def expected_at(self, temperature: float, values: dict[str, float] | None = None) -> float:
        vals = values or {o: float(o) for o in self.probs}
        dist = self.at_temperature(temperature)
        return sum(p * vals[o] for o, p in dist.items())

    def argmax(self) -> str | None:
        return max(self.probs, key=self.probs.get) if self.valid else None


def _temper_flat(probs: dict[str, float], temperature: float) -> dict[str, float]:
    if temperature <= 0:
        top = max(probs.values())
        winners = [o for o, p in probs.items() if p == top]
        return {o: (1 / len(winners) if o in winners else 0.0) for o in probs}
    logs = {o: (math.log(p) / temperature if p > 0 else -math.inf) for o, p in probs.items()}
    m = max(logs.values())
    w = {o: math.exp(v - m) for o, v in logs.items()}
    z = sum(w.values())
    return {o: v / z for o, v in w.items()}


class Elicitor:
    def __init__(self, target: Target, store: ResponseStore | None = None, *, progress: bool = True):
        self.target = target
        self.store = store or ResponseStore(response_store_path())
        self.progress = progress
        self.identity = {"kind": target.kind, "spec": target.spec, "model": target.model, "digest": target.digest}
        self.n_model_calls = 0  # calls that reached the model in this process (not answered by the store)
        self.n_store_hits = 0  # calls answered from the response store
        # every distinct call this elicitor's answers rest on (from the store or from the model) -> its recorded
        # latency: what collecting these answers cost, also when a re-run took them all from the store
        self.recorded_latency: dict[str, float] = {}
        self._count_lock = threading.Lock()  # el.map runs calls in threads: the counts must not lose updates
        # prompt tokens of the calls that reached the model, as the engine reported them (llama.cpp engines):
        # all of them, those it evaluated, those it took from its prompt cache; calls that did not report count too
        self.prompt_tokens = {"calls_reporting": 0, "total": 0, "evaluated": 0, "cached": 0}

    def recorded_cost(self) -> tuple[int, float]:
        """(distinct calls, seconds of model time recorded when each was made) behind this elicitor's answers.
        Summed in key order, so a replay from the store gives the same number to the last digit."""
        with self._count_lock:
            items = sorted(self.recorded_latency.items())
        return len(items), sum(v for _, v in items)

    @classmethod
    def from_spec(cls, spec: str, store: ResponseStore | None = None, **target_kwargs) -> Elicitor:
        return cls(make_target(spec, **target_kwargs), store)

    @property
    def supports_logprobs(self) -> bool:
        return self.target.supports_logprobs

    # ---- one call -----------------------------------------------------------------------------
    def prepare(self, messages: list[Message], options: GenOptions = GenOptions(), *, sample: int = 0,
                top_logprobs: int = 0) -> tuple[list[Message], GenOptions, dict[str, Any], str]:
        """(messages as sent, options as sent, their stored form, the request key) of one call. The one place a
        key is made, so a call answered by a provider's batch (:mod:`analysis.core.batch`) is found here."""
        messages = [{"role": m["role"], "content": m["content"]} for m in messages]
        sent = GenOptions(**{**options.__dict__, "seed": options.seed + sample})
        opts = sent.to_dict()
        return messages, sent, opts, request_key(self.identity, messages, opts, sample, top_logprobs)

    def generate(self, messages: list[Message], options: GenOptions = GenOptions(), *, sample: int = 0,
                 top_logprobs: int = 0, tag: str | None = None) -> Reply:
        messages, sent, opts, key = self.prepare(messages, options, sample=sample, top_logprobs=top_logprobs)
        hit = self.store.get(key)
        for legacy in getattr(self.target, "legacy_specs", []) if hit is None else []:
            # an answer recorded when the spec still carried the server URL (same model, same digest)
            hit = self.store.get(request_key({**self.identity, "spec": legacy}, messages, opts, sample, top_logprobs))
            if hit is not None:
                break
        if hit is not None:
            with self._count_lock:
                self.n_store_hits += 1
                self.recorded_latency[key] = float(hit.latency_s)
            lps = [TokenLogprob.from_json(t) for t in hit.logprobs] if hit.logprobs is not None else None
            return Reply(hit.text, key, hit.latency_s, True, lps)
        t0 = time.perf_counter()
        self.store.check_writable()  # a read-only store refuses before a model call is spent, not after
        waiting = self.store.batch_waiting(key)
        if waiting is not None:  # its answer is being paid for in a provider's batch: never a second time here
            raise BatchError(f"This request to {self.target.spec} waits in the provider's batch {waiting}: collect it "
                             "with `python -m analysis.pipeline.batch poll` before a stage calls the model for it, so "
                             "that no answer is paid for twice.")
        raw = self.target.chat(messages, sent, logprobs=top_logprobs > 0, top_logprobs=top_logprobs)
        latency = time.perf_counter() - t0
        with self._count_lock:
            self.n_model_calls += 1
            m = raw.meta or {}
            if all(isinstance(m.get(k), int) for k in ("prompt_tokens", "prompt_evaluated", "prompt_cached")):
                self.prompt_tokens["calls_reporting"] += 1
                self.prompt_tokens["total"] += m["prompt_tokens"]
                self.prompt_tokens["evaluated"] += m["prompt_evaluated"]
                self.prompt_tokens["cached"] += m["prompt_cached"]
        # an empty generated reply is never stored; a log-probability call whose distribution came back
        # is a result even when the most likely next token ends the reply (empty text)
        if not raw.text.strip() and not (top_logprobs > 0 and raw.logprobs):
            raise EmptyReply(f"{self.target.spec} returned an empty reply (not stored)")
        self.store.put(
            key, identity=self.identity, messages=messages, options=opts, seed=sent.seed, sample=sample,
            top_logprobs=top_logprobs, text=raw.text,
            logprobs=[t.to_json() for t in raw.logprobs] if raw.logprobs is not None else None,
            latency_s=latency, meta=raw.meta, tag=tag,
        )
        with self._count_lock:  # only what was stored: a replay from the store finds the same calls
            self.recorded_latency[key] = latency
        return Reply(raw.text, key, latency, False, raw.logprobs)

    # ---- closed questions by generation -------------------------------------------------------
    def ask_closed(self, messages: list[Message], parser: Callable[[str], Any], *, reminder: str,
                   options: GenOptions = GenOptions(max_tokens=32), max_reasks: int = 2, sample: int = 0,
                   tag: str | None = None) -> ClosedAnswer:
        history = list(messages)
        texts: list[str] = []
        ids: list[str] = []
        for attempt in range(1, max_reasks + 2):
            try:
                r = self.generate(history, options, sample=sample, tag=tag)
                text = r.text
                ids.append(r.call_id)
            except EmptyReply:
                text = ""
            texts.append(text)
            value = parser(text) if text else None
            if value is not None:
                return ClosedAnswer(value, "ok", attempt, texts, ids)
            history = history + [{"role": "assistant", "content": text or "(no reply)"}, {"role": "user", "content": reminder}]
        status = "refused" if any(REFUSAL.search(t) for t in texts) else "unparsed"
        return ClosedAnswer(None, status, max_reasks + 1, texts, ids)

    # ---- closed questions by log-probabilities ------------------------------------------------
    def option_probs(self, messages: list[Message], options: list[str], *, prefix: str = "", top_logprobs: int = 20,
                     min_branch: float = 0.02, case_sensitive: bool = False, tag: str | None = None,
                     min_mass: float = MIN_OPTION_MASS) -> OptionProbs:
        """Exact probabilities of ``options`` as the start of the reply (after ``prefix``)."""
        if not self.target.supports_logprobs:
            raise LogprobsUnsupported(
                f"{self.target.spec} cannot return log-probabilities; use ask_closed (generation with parsing)."
            )
        norm = (lambda s: s) if case_sensitive else (lambda s: s.upper())
        opts_n = {o: norm(o) for o in options}
        credit = {o: 0.0 for o in options}
        ids: list[str] = []
        tree: list[OptionNode] = []
        pruned = 0.0
        truncated = 0.0

        def completes(cand: str, o: str) -> bool:
            c, t = norm(cand), opts_n[o]
            return c == t or (c.startswith(t) and not c[len(t)].isalnum())

        def expand(pre: str, weight: float, terminal: str | None, depth: int) -> int:
            nonlocal pruned, truncated
            prefill = prefix + pre
            msgs = messages + [{"role": "assistant", "content": prefill}] if prefill else messages
            r = self.generate(msgs, GenOptions(temperature=0.0, seed=0, max_tokens=1), top_logprobs=top_logprobs, tag=tag)
            ids.append(r.call_id)
            top = r.logprobs[0].top if r.logprobs else []
            node = OptionNode(pre, terminal, [], max(1.0 - sum(math.exp(lp) for _, lp in top), 0.0))
            idx = len(tree)
            tree.append(node)
            if depth > 0:
                truncated += weight * node.tail
            continuing = 0.0
            for tok, lp in top:
                pc = math.exp(lp)
                p = weight * pc
                cand = pre + tok
                longer = [o for o in options if norm(cand) != opts_n[o] and opts_n[o].startswith(norm(cand))]
                # options this token completes, other than the one already reached at this prefix
                done = [o for o in options if completes(cand, o) and len(o) > len(pre)]
                if not longer and not done:
                    node.tokens.append((tok, pc, "other", None))
                    continue  # not an option: lost mass (or, below a terminal option, that option's mass)
                continuing += p
                if longer and p >= min_branch and depth < 8:
                    node.tokens.append((tok, pc, "child", -1))
                    child = expand(cand, p, max(done, key=len) if done else None, depth + 1)
                    node.tokens[-1] = (tok, pc, "child", child)
                elif done:
                    node.tokens.append((tok, pc, "option", max(done, key=len)))
                    credit[max(done, key=len)] += p
                else:
                    node.tokens.append((tok, pc, "pruned", None))
                    pruned += p
            if terminal is not None:
                credit[terminal] += max(weight - continuing, 0.0)
            return idx

        expand("", 1.0, None, 0)
        mass = sum(credit.values())
        probs = {o: (v / mass if mass > 0 else math.nan) for o, v in credit.items()}
        return OptionProbs(probs, mass, ids, pruned, min_mass, tree, truncated)

    # ---- many calls ---------------------------------------------------------------------------
    def map(self, fn: Callable[[T], R], items: Iterable[T], desc: str = "model calls") -> list[R]:
        """Apply ``fn`` to every item with a progress bar (rate, ETA), up to the target's concurrency."""
        items = list(items)
        bar = progress.bar(len(items), desc, disable=not self.progress)
        try:
            if self.target.max_concurrency <= 1:
                out = []
                for it in items:
                    out.append(fn(it))
                    bar.update()
                return out
            pool = ThreadPoolExecutor(max_workers=self.target.max_concurrency)
            try:
                futures = [pool.submit(fn, it) for it in items]
                for f in futures:
                    f.add_done_callback(lambda _f: bar.update())
                wait(futures, return_when=FIRST_EXCEPTION)
                failed = next((f for f in futures if f.done() and not f.cancelled() and f.exception()), None)
                if failed is not None:
                    raise failed.exception()
                return [f.result() for f in futures]
            finally:
                # on the first failure, calls not yet started are dropped (the running ones finish and are
                # stored), so a stage that fails stops at once instead of spending its remaining calls
                pool.shutdown(wait=True, cancel_futures=True)
        finally:
            bar.close()
