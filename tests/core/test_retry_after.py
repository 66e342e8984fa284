"""A rate-limited server's Retry-After is honoured (bounded) before a retry; the backoff when it asks for less."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from analysis.core.errors import ServerError
from analysis.core.models.http import MAX_RETRY_AFTER_S, RetryPolicy, http_transient, retry_after, with_retries


def test_retry_after_reads_seconds_milliseconds_and_dates_within_the_bound():
    assert retry_after(httpx.Headers({"retry-after": "7"})) == 7.0
    assert retry_after(httpx.Headers({"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    assert retry_after(httpx.Headers({"retry-after": "3600"})) == MAX_RETRY_AFTER_S
    assert retry_after(httpx.Headers({"retry-after": "-4"})) == 0.0
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    assert 15 < retry_after(httpx.Headers({"retry-after": when})) <= 20
    assert retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after(httpx.Headers({})) is None


def test_with_retries_waits_what_the_server_asked_when_longer_than_the_backoff():
    responses = [httpx.Response(429, headers={"retry-after": "12"}, json={"error": {"message": "rate limited"}}),
                 httpx.Response(529, json={"error": {"message": "overloaded"}}),
                 httpx.Response(200, json={"ok": True})]
    slept = []

    def once():
        r = responses.pop(0)
        if r.status_code >= 400:
            raise http_transient(r)
        return r

    r, attempts, failures = with_retries(once, RetryPolicy(3, 1.0), where="http://h", model="m", timeout_s=5,
                                         sleep=slept.append)
    assert r.status_code == 200 and attempts == 3
    assert slept == [12.0, 2.0]  # the server's 12 s, then the backoff (2 s: no Retry-After)
    assert failures == ["HTTP 429: rate limited (retry after 12 s)", "HTTP 529: overloaded"]


def test_retries_used_up_still_end_in_one_sentence():
    def once():
        raise http_transient(httpx.Response(429, headers={"retry-after": "1"}, text="slow down"))

    with pytest.raises(ServerError, match="failed 3 times in a row") as e:
        with_retries(once, RetryPolicy(2, 0.0), where="http://h", model="m", timeout_s=5, sleep=lambda s: None)
    assert "\n" not in str(e.value)
