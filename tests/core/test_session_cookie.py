"""Session cookies: any text that is not a live signed token is no session, and never an error."""

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from api.core.security import SESSION_MAX_AGE_SECONDS, session_shaped, session_token, session_valid

KEY = SecretStr("session-cookie-key-0123456789abcdef")
NOW = 1_800_000_000


@pytest.mark.parametrize(
    "cookie",
    [
        "²²²².abc",
        "١٢٣.x",  # Arabic-Indic digits
        "１２３.abc",  # full-width digits
        "²" * 12 + "." + "a" * 64,
        "1" * 13 + "." + "a" * 64,  # more digits than a time has
        "123",  # no dot
        ".",
        "",
        f"{NOW}.{'g' * 64}",  # not hex
        f"{NOW}.{'A' * 64}",  # hex, but not as the service writes it
        f"{NOW}.{'a' * 63}",
        f"{NOW}.{'a' * 65}",
        f"{NOW}.{'a' * 64}\n",
        f" {NOW}.{'a' * 64}",
        "x" * 1_000_000,
        "1." + "a" * 1_000_000,
        "\ud800.abc",
    ],
)
def test_crafted_cookies_are_no_session(cookie: str) -> None:
    assert session_valid(cookie, KEY, now=NOW) is False


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_is_never_a_session_and_never_raises(text: str) -> None:
    assert session_valid(text, KEY, now=NOW) is False
    assert session_valid(text, KEY) is False


@settings(max_examples=200, deadline=None)
@given(
    issued=st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=14),
    signature=st.text(alphabet="0123456789abcdefABCDEF²", max_size=70),
)
def test_digit_like_text_never_raises(issued: str, signature: str) -> None:
    # Shaped like a token, with any Unicode digits: only ASCII digits may be an issue time.
    token = f"{issued}.{signature}"
    assert session_valid(token, KEY, now=NOW) is False
    if not issued.isascii():
        assert not session_shaped(token)


def test_a_real_token_is_valid_only_with_its_key_epoch_and_time() -> None:
    token = session_token(KEY, epoch=3, issued=NOW)
    assert session_shaped(token)
    assert session_valid(token, KEY, epoch=3, now=NOW + 10)
    assert not session_valid(token, KEY, epoch=4, now=NOW + 10), "sign-out moved the epoch on"
    assert not session_valid(token, KEY, epoch=2, now=NOW + 10)
    assert not session_valid(token, SecretStr("another key"), epoch=3, now=NOW)
    assert not session_valid(token, KEY, epoch=3, now=NOW + SESSION_MAX_AGE_SECONDS + 1)
    assert not session_valid(token, KEY, epoch=3, now=NOW - 120)  # issued in the future


@settings(max_examples=100, deadline=None)
@given(position=st.integers(min_value=0), replacement=st.sampled_from("0123456789abcdef."))
def test_any_single_character_change_is_refused(position: int, replacement: str) -> None:
    token = session_token(KEY, epoch=0, issued=NOW)
    index = position % len(token)
    if token[index] == replacement:
        return
    tampered = token[:index] + replacement + token[index + 1 :]
    assert not session_valid(tampered, KEY, now=NOW + 1)


def test_a_huge_cookie_is_refused_quickly() -> None:
    # A megabyte of junk is refused by its shape before any hashing.
    started = time.perf_counter()
    for _ in range(100):
        session_valid("1" * 1_000_000, KEY, now=NOW)
    assert time.perf_counter() - started < 1.0
