"""What server targets share: bounded retries of transient failures, and the server's own words.

A transient failure (HTTP 429/500/502/503/504, a dropped or reset connection, a timeout) is retried up
to ``retries`` times, waiting ``backoff_s``, 2 x ``backoff_s``, 4 x ``backoff_s`` ... in between. The
attempts are returned to the caller, which records them in the call's provenance (``meta``); a failure
is never returned as an answer, so it is never stored. When the bound is reached the error is one
sentence naming the server, the model, the last failure and what to do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

import httpx

from analysis.core.errors import ServerError, TargetUnavailable

R = TypeVar("R")

TRANSIENT_STATUS = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3  # extra attempts after the first
    backoff_s: float = 1.0  # wait before the first retry; doubled before each further one

    def wait(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return self.backoff_s * 2 ** (attempt - 1)


NO_RETRY = RetryPolicy(0, 0.0)


class Transient(Exception):
    """Raised inside a retried function to mark a failure worth retrying; ``label`` says what it was;
    ``retry_after``: the seconds the server asked to wait (its ``Retry-After``), if it said."""

    def __init__(self, label: str, timeout: bool = False, retry_after: float | None = None):
        super().__init__(label)
        self.label = label
        self.timeout = timeout
        self.retry_after = retry_after


MAX_RETRY_AFTER_S = 60.0  # the longest wait a server's Retry-After may impose before a retry


def retry_after(headers) -> float | None:
    """Seconds a response's ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms`` header asks to wait,
    at most :data:`MAX_RETRY_AFTER_S`; None when it says nothing readable."""
    from email.utils import parsedate_to_datetime

    ms, value = headers.get("retry-after-ms"), headers.get("retry-after")
    seconds = None
    try:
        if ms is not None:
            seconds = float(ms) / 1000
        elif value is not None:
            seconds = float(value)
    except ValueError:
        try:
            from datetime import UTC, datetime

            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    if seconds is None or seconds != seconds:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def http_transient(r: httpx.Response) -> Transient:
    """The retryable failure of an HTTP response with a transient status, with the wait its server asked for."""
    wait = retry_after(r.headers)
    label = f"HTTP {r.status_code}: {server_message(r.text)}" + (f" (retry after {wait:g} s)" if wait is not None else "")
    return Transient(label, retry_after=wait)


def server_message(text: str, limit: int = 300) -> str:
    """The explanation a server gave in an error body (JSON ``error``/``message``/``detail``, or the text)."""
    msg = text
    try:
        body = json.loads(text)
    except (ValueError, TypeError):
        body = None
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or err.get("msg") or json.dumps(err)
        if isinstance(err, list) and err and isinstance(err[0], dict):  # FastAPI validation errors
            err = "; ".join(str(e.get("msg", e)) for e in err)
        if err is not None:
            msg = str(err)
    msg = " ".join(str(msg).split())
    if msg.lstrip().lower().startswith(("<!doctype", "<html")):
        return "an HTML page"
    return msg if len(msg) <= limit else msg[: limit - 3] + "..."


def attempt(send: Callable[[], httpx.Response], *, transient: Collection[int], failed: Callable[[Exception], str],
            classify: bool = True, unreachable: Callable[[], Exception] | None = None) -> httpx.Response:
    """One attempt of an HTTP request, for :func:`with_retries`: a refused connection (nothing was sent) is
    :class:`Transient`, or ``unreachable()`` when given; a dropped connection or a timeout is transient when
    ``classify``; another transport failure is a :class:`ServerError` whose sentence is ``failed(error)``; a response
    whose status is in ``transient`` is transient, with the wait its server asked for (:func:`http_transient`)."""
    try:
        r = send()
    except httpx.ConnectError:
        if unreachable is not None:
            raise unreachable() from None
        raise Transient("connection refused") from None
    except httpx.HTTPError as e:
        t = classify_httpx(e) if classify else None
        if t is None:
            raise ServerError(failed(e)) from None
        raise t from None
    if r.status_code in transient:
        raise http_transient(r)
    return r


def classify_httpx(e: Exception, *, connect_is_transient: bool = True) -> Transient | None:
    """The transient kind of an httpx exception, or None when it is not transient."""
    if isinstance(e, httpx.TimeoutException):
        return Transient("no answer within the timeout", timeout=True)
    if isinstance(e, httpx.ConnectError):
        return Transient("connection refused") if connect_is_transient else None
    if isinstance(e, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.CloseError)):
        return Transient("connection dropped or reset by the server")
    return None


def with_retries(fn: Callable[[], R], policy: RetryPolicy, *, where: str, model: str, timeout_s: float,
                 sleep: Callable[[float], None] = time.sleep) -> tuple[R, int, list[str]]:
    """Run ``fn`` until it succeeds or ``policy.retries`` retries of :class:`Transient` failures are used.

    Returns (result, attempts, labels of the failed attempts)."""
    failures: list[str] = []
    attempts = 0
    while True:
        attempts += 1
        try:
            return fn(), attempts, failures
        except Transient as t:
            failures.append(t.label)
            if attempts > policy.retries:
                tries = f"{attempts} times in a row" if attempts > 1 else "once (retries are off)"
                if t.timeout:
                    raise ServerError(
                        f"The server at {where} did not answer within {timeout_s:g} s for {model!r}, {tries}; "
                        "nothing was stored: raise `targets.timeout_s` (or `targets.retries`) in params.yaml, "
                        "or use a smaller model.") from None
                raise ServerError(
                    f"The server at {where} failed {tries} for {model!r} (last: {t.label}); nothing was stored: "
                    "check the server and its log, then re-run (finished calls come from the response store), "
                    "or raise `targets.retries` in params.yaml.") from None
            # the server's Retry-After when it is longer than the backoff (a rate limit says how long it lasts)
            sleep(max(policy.wait(attempts), t.retry_after or 0.0))


def unreachable(where: str, how_to_start: str) -> TargetUnavailable:
    return TargetUnavailable(f"Cannot reach a server at {where}: {how_to_start}")
