"""Access and load policy without a server: users, passwords, exposure, rate limits, answer slots."""

from __future__ import annotations

import base64
import io
import threading
import time

import pytest

from index.errors import ConfigError
from index.settings import Settings
from tests.conftest import empty_config
from ui import security
from ui.security import (
    AnswerSlots,
    Guards,
    RateLimiter,
    ServerBusyError,
    check_exposure,
    hash_password,
    is_loopback,
    load_users,
    parse_users,
    same_secret,
    verify_password,
)

ADMIN_HASH = hash_password("admin-pass-1")
READER_HASH = hash_password("reader-pass-1")
USERS = f"# the team\nalice:{ADMIN_HASH}:admin\n\nbob:{READER_HASH}:user\ncarol:{READER_HASH}\n"


def test_password_hash_round_trip_and_salt():
    assert verify_password("admin-pass-1", ADMIN_HASH)
    assert not verify_password("admin-pass-2", ADMIN_HASH)
    assert hash_password("admin-pass-1") != ADMIN_HASH  # a fresh salt each time
    assert ADMIN_HASH.startswith("scrypt$16384$8$1$")


@pytest.mark.parametrize("encoded", ["", "scrypt$1$2", "md5$x$y$z$a$b", "scrypt$16384$8$1$!!$!!", "plain-password"])
def test_malformed_hashes_never_verify(encoded):
    assert not verify_password("anything", encoded)


def test_users_file_names_roles_and_passwords():
    users = parse_users(USERS)
    assert len(users) == 3
    assert users.authenticate("alice", "admin-pass-1").is_admin
    assert users.authenticate("bob", "reader-pass-1").role == "user"
    assert users.authenticate("carol", "reader-pass-1").role == "user"  # role left out: "user"
    assert users.authenticate("bob", "admin-pass-1") is None
    assert users.authenticate("nobody", "admin-pass-1") is None
    assert users.user("alice").is_admin and users.user("nobody") is None and users.user(None) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alice\n", "line 1: expected name:scrypt"),
        ("alice:secret:admin\n", "line 1: expected name:scrypt"),
        (f"# c\nalice:{ADMIN_HASH}:root\n", "line 2: role 'root'"),
        (f"alice:{ADMIN_HASH}:admin\nalice:{READER_HASH}:user\n", "line 2: user 'alice' appears twice"),
        ("# nobody yet\n", "lists no user"),
    ],
)
def test_malformed_users_files_are_refused_with_the_line(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_users(text)


def test_a_missing_users_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read the users file .*POLICYQA_AUTH"):
        load_users(tmp_path / "users.txt")


def test_cached_api_logins_still_check_the_password():
    users = parse_users(USERS)
    assert users.authenticate_cached("alice", "admin-pass-1").name == "alice"
    started = time.perf_counter()
    assert users.authenticate_cached("alice", "admin-pass-1").name == "alice"
    assert time.perf_counter() - started < 0.01, "a remembered login should not run scrypt again"
    assert users.authenticate_cached("alice", "wrong") is None


def test_same_secret():
    assert same_secret("tok", "tok")
    assert not same_secret("tok", "tok2") and not same_secret("", "") and not same_secret("x", "")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.5", False),
        ("policyqa.intranet", False),
    ],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_non_loopback_without_login_is_refused_with_what_to_do():
    with pytest.raises(ConfigError) as refused:
        check_exposure(Settings(host="0.0.0.0"))
    assert "POLICYQA_AUTH" in str(refused.value) and "--allow-remote" in str(refused.value)
    check_exposure(Settings(host="127.0.0.1"))
    check_exposure(Settings(host="0.0.0.0", auth="users.txt"))
    check_exposure(Settings(host="0.0.0.0", allow_unauthenticated=True))


def test_serve_refuses_before_loading_anything():
    from ui.server import serve

    started = time.perf_counter()
    with pytest.raises(ConfigError, match=r"refusing to listen on 0\.0\.0\.0 without login"):
        serve(Settings(host="0.0.0.0", port=1))
    assert time.perf_counter() - started < 1


def test_cli_allow_remote_turns_the_refusal_off(monkeypatch, tmp_path):
    import ui.server
    from ui.cli import main

    seen = []
    monkeypatch.setattr(ui.server, "serve", seen.append)
    monkeypatch.setenv("POLICYQA_CONFIG", empty_config(tmp_path))
    assert main(["serve", "--host", "0.0.0.0", "--allow-remote"]) == 0
    assert seen[0].host == "0.0.0.0" and seen[0].allow_unauthenticated
    assert main(["serve", "--host", "0.0.0.0"]) == 0
    assert not seen[1].allow_unauthenticated


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_allows_a_minutes_worth_then_refills():
    clock = FakeClock()
    limiter = RateLimiter(6, clock=clock)  # one every 10 s
    assert [limiter.retry_after("a") for _ in range(6)] == [0] * 6
    assert limiter.retry_after("a") == 10
    assert limiter.retry_after("b") == 0  # clients are independent
    clock.now += 9.9
    assert limiter.retry_after("a") == 1
    clock.now += 0.2
    assert limiter.retry_after("a") == 0
    assert limiter.retry_after("a") == 10


def test_rate_limiter_memory_is_bounded():
    limiter = RateLimiter(1, max_clients=100, clock=FakeClock())
    for n in range(1000):
        limiter.retry_after(f"10.0.{n // 256}.{n % 256}")
    assert len(limiter) == 100


def test_a_rate_limit_of_zero_is_no_limiter():
    assert Guards.from_settings(Settings(rate_limit_per_minute=0)).ask_limiter is None
    with pytest.raises(ConfigError, match="at least 1 per minute"):
        RateLimiter(0)


def _hold(slots: AnswerSlots, entered: threading.Event, release: threading.Event) -> threading.Thread:
    def run():
        with slots.slot():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=run)
    thread.start()
    assert entered.wait(5)
    return thread


def test_full_slots_and_full_queue_are_busy_at_once():
    slots = AnswerSlots(workers=1, queue_size=0, wait_s=30)
    release = threading.Event()
    holder = _hold(slots, threading.Event(), release)
    started = time.perf_counter()
    with pytest.raises(ServerBusyError) as busy, slots.slot():
        pass
    assert time.perf_counter() - started < 0.5 and busy.value.retry_after_s >= 1
    assert "服务器正忙" in str(busy.value)
    release.set()
    holder.join()
    with slots.slot():
        assert slots.running == 1
    assert slots.running == 0


def test_a_waiting_question_gets_the_next_free_slot_or_gives_up_in_time():
    slots = AnswerSlots(workers=1, queue_size=1, wait_s=0.3)
    release = threading.Event()
    holder = _hold(slots, threading.Event(), release)
    started = time.perf_counter()
    with pytest.raises(ServerBusyError), slots.slot():
        pass
    assert 0.25 < time.perf_counter() - started < 2
    threading.Timer(0.1, release.set).start()
    with slots.slot():  # waits for the holder, then runs
        assert slots.running == 1
    holder.join()
    assert (slots.running, slots.waiting) == (0, 0)


def _basic(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def test_api_callers(tmp_path):
    users_file = tmp_path / "users.txt"
    users_file.write_text(USERS, encoding="utf-8")
    guards = Guards.from_settings(Settings(auth=str(users_file), api_token="s3cret-token"))
    assert guards.api_locked
    assert guards.api_caller("Bearer s3cret-token") == "token"
    assert guards.api_caller("bearer  s3cret-token ") == "token"
    assert guards.api_caller(_basic("bob", "reader-pass-1")) == "bob"
    for header in (None, "", "Bearer wrong", "Bearer", _basic("bob", "nope"), "Basic ***", "Digest x"):
        assert guards.api_caller(header) is None, header
    assert guards.may_change_library("alice") and not guards.may_change_library("bob")
    assert not guards.may_change_library(None)
    open_guards = Guards.from_settings(Settings())
    assert not open_guards.api_locked and open_guards.may_change_library(None)
    assert not open_guards.check_login("alice", "admin-pass-1")
    assert guards.check_login("alice", "admin-pass-1") and not guards.check_login("alice", "x")


def test_the_helper_prints_a_users_file_line(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough-password\n"))
    assert security.main(["dora", "admin"]) == 0
    line = capsys.readouterr().out.strip()
    assert parse_users(line).authenticate("dora", "long-enough-password").is_admin
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert security.main(["dora"]) == 1
    assert security.main(["do:ra"]) == 2
    assert security.main(["dora", "root"]) == 2
