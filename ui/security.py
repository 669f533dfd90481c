"""Who may use the server and how much: users, tokens, rate limits and answer slots.

Pure policy, no web framework: ``ui.api`` and ``ui.app`` apply it to requests.

- A users file (``settings.auth``) holds ``name:scrypt$…:role`` lines; create one with
  ``python -m ui.security NAME admin >> users.txt`` (it asks for the password).
- ``/api/*`` accepts ``Authorization: Bearer <settings.api_token>`` or HTTP Basic with a
  user of the file; every comparison of a secret is constant-time.
- ``/api/ask`` is rate limited per client address (token buckets, bounded memory).
- Answering is CPU-bound, so the web app and the API share ``settings.ask_workers`` slots;
  a bounded number of questions may wait a bounded time for one, the rest are told "busy".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import math
import secrets
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from index.errors import ConfigError, PolicyQAError
from index.settings import Settings

ROLES = ("admin", "user")
# scrypt cost: 16 MB and ≈ 50 ms per check on the 2-core target; OWASP's minimum for scrypt.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SCRYPT_MAXMEM = 64 * 2**20
# Checked API passwords are remembered (as a keyed hash) so HTTP Basic costs one scrypt per
# client, not one per request; bounded like every other table here.
MAX_REMEMBERED_LOGINS = 256
# Clients tracked by a rate limiter; the least recently seen is forgotten first.
MAX_CLIENTS = 10_000
# Login attempts per minute per address on the web app's login form.
LOGIN_ATTEMPTS_PER_MINUTE = 10
# What a "busy" reply tells the client to wait before retrying.
BUSY_RETRY_AFTER_S = 2
BUSY_MESSAGE = "服务器正忙，请稍后几秒再试。 The server is busy; please retry in a few seconds."
RATE_LIMITED_MESSAGE = "提问太频繁，请 {seconds} 秒后再试。 Too many questions; retry in {seconds} s."


class ServerBusyError(PolicyQAError):
    """Every answer slot is taken and the wait for one is full or took too long."""

    def __init__(self, retry_after_s: int = BUSY_RETRY_AFTER_S) -> None:
        super().__init__(BUSY_MESSAGE)
        self.retry_after_s = retry_after_s


# ── passwords and users ────────────────────────────────────────────────────────


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64) for a password, to store in a users file."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches a ``hash_password`` string (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, expected = encoded.split("$")
        if scheme != "scrypt":
            return False
        digest = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
        return hmac.compare_digest(digest, base64.b64decode(expected))
    except (ValueError, binascii.Error):
        return False


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    data = password.encode("utf-8", "surrogatepass")
    return hashlib.scrypt(data, salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class User:
    """A person who may log in, and whether they may change the knowledge base."""

    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class UserStore:
    """The users of a users file; checks names and passwords."""

    def __init__(self, hashes: dict[str, tuple[str, str]]) -> None:
        self._hashes = dict(hashes)  # name → (password hash, role)
        self._dummy_hash = hash_password(secrets.token_hex(8))
        self._key = secrets.token_bytes(32)
        self._remembered: OrderedDict[bytes, User] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._hashes)

    def user(self, name: str | None) -> User | None:
        """The user of that name, or None."""
        entry = self._hashes.get(name or "")
        return User(name, entry[1]) if entry and name else None

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password is theirs, else None; unknown names cost the same time."""
        entry = self._hashes.get(name)
        ok = verify_password(password, entry[0] if entry else self._dummy_hash)
        return User(name, entry[1]) if ok and entry else None

    def authenticate_cached(self, name: str, password: str) -> User | None:
        """``authenticate``, remembering successes (keyed hashes, bounded) for repeated API calls."""
        key = hmac.new(self._key, f"{name}\0{password}".encode("utf-8", "surrogatepass"), "sha256").digest()
        with self._lock:
            known = self._remembered.get(key)
            if known is not None:
                self._remembered.move_to_end(key)
                return known
        user = self.authenticate(name, password)
        if user is not None:
            with self._lock:
                self._remembered[key] = user
                while len(self._remembered) > MAX_REMEMBERED_LOGINS:
                    self._remembered.popitem(last=False)
        return user


def parse_users(text: str, source: str = "users file") -> UserStore:
    """The users of a users file's text: ``name:hash:role`` lines, ``#`` comments.

    Raises:
        ConfigError: a line is malformed, a name repeats, or there is no user at all.
    """
    hashes: dict[str, tuple[str, str]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) == 2:
            parts.append("user")  # the role may be left out
        where = f"{source}, line {number}"
        name, password_hash, role = parts if len(parts) == 3 else ("", "", "")
        if not name or not password_hash.startswith("scrypt$"):
            raise ConfigError(
                f"{where}: expected name:scrypt$…:role; create a line with "
                "`python -m ui.security NAME admin` (or NAME user)"
            )
        if role not in ROLES:
            raise ConfigError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
        if name in hashes:
            raise ConfigError(f"{where}: user {name!r} appears twice")
        hashes[name] = (password_hash, role)
    if not hashes:
        raise ConfigError(f"{source} lists no user; add one with `python -m ui.security NAME admin >> {source}`")
    return UserStore(hashes)


def load_users(path: Path) -> UserStore:
    """The users of the file named by ``settings.auth``.

    Raises:
        ConfigError: the file cannot be read or is malformed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the users file {path} (POLICYQA_AUTH): {exc}") from exc
    return parse_users(text, str(path))


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality of two secrets (False if either is empty)."""
    return bool(given and expected) and hmac.compare_digest(given.encode(), expected.encode())


# ── where the server may listen ───────────────────────────────────────────────


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_exposure(settings: Settings) -> None:
    """Refuse to serve the network without login unless that was asked for explicitly.

    Raises:
        ConfigError: ``settings.host`` is not loopback, no users file is set and
            ``allow_unauthenticated`` is off.
    """
    if is_loopback(settings.host) or settings.auth or settings.allow_unauthenticated:
        return
    raise ConfigError(
        f"refusing to listen on {settings.host or 'all addresses'} without login: anyone on the network "
        "could read the documents and upload or delete them. Set POLICYQA_AUTH to a users file "
        "(create a line with `python -m ui.security NAME admin`), or, to serve everyone without "
        "login, pass --allow-remote or set POLICYQA_ALLOW_UNAUTHENTICATED=1"
    )


# ── rate limits ───────────────────────────────────────────────────────────────


class RateLimiter:
    """A token bucket per client: ``per_minute`` requests a minute, a minute's worth at once."""

    def __init__(
        self, per_minute: int, max_clients: int = MAX_CLIENTS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if per_minute < 1:
            raise ConfigError(f"a rate limit must be at least 1 per minute, not {per_minute}")
        self.capacity = float(per_minute)
        self.per_second = per_minute / 60.0
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client → (tokens, when)
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """0 if the client may go ahead (one request counted), else whole seconds to wait."""
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.pop(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.per_second)
            wait = 0 if tokens >= 1 else max(1, math.ceil((1 - tokens) / self.per_second))
            self._buckets[client] = (tokens - 1 if wait == 0 else tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


# ── answer slots ──────────────────────────────────────────────────────────────


class AnswerSlots:
    """At most ``workers`` answers computed at once; at most ``queue_size`` waiting, ``wait_s`` each."""

    def __init__(self, workers: int, queue_size: int, wait_s: float) -> None:
        if workers < 1 or queue_size < 0 or wait_s < 0:
            raise ConfigError(
                f"ask_workers must be ≥ 1, ask_queue_size and ask_wait_s ≥ 0 (got {workers}, {queue_size}, {wait_s})"
            )
        self.workers, self.queue_size, self.wait_s = workers, queue_size, wait_s
        self.running = 0
        self.waiting = 0
        self._free = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the block.

        Raises:
            ServerBusyError: the queue is full, or no slot came free within ``wait_s``.
        """
        with self._free:
            if self.running >= self.workers:
                if self.waiting >= self.queue_size:
                    raise ServerBusyError()
                self.waiting += 1
                try:
                    got = self._free.wait_for(lambda: self.running < self.workers, timeout=self.wait_s)
                finally:
                    self.waiting -= 1
                if not got:
                    raise ServerBusyError()
            self.running += 1
        try:
            yield
        finally:
            with self._free:
                self.running -= 1
                self._free.notify()


# ── everything together, built once per server ─────────────────────────────────


@dataclass(frozen=True)
class Guards:
    """The access and load policy of one server, shared by the web app and the API."""

    users: UserStore | None
    api_token: str
    ask_limiter: RateLimiter | None
    login_limiter: RateLimiter
    slots: AnswerSlots
    max_request_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Guards:
        """The guards the settings ask for.

        Raises:
            ConfigError: the users file is missing or malformed, or a limit is invalid.
        """
        users = load_users(Path(settings.auth).expanduser()) if settings.auth else None
        if settings.max_request_kb < 1:
            raise ConfigError(f"max_request_kb must be at least 1, not {settings.max_request_kb}")
        return cls(
            users=users,
            api_token=settings.api_token,
            ask_limiter=RateLimiter(settings.rate_limit_per_minute) if settings.rate_limit_per_minute > 0 else None,
            login_limiter=RateLimiter(LOGIN_ATTEMPTS_PER_MINUTE),
            slots=AnswerSlots(settings.ask_workers, settings.ask_queue_size, settings.ask_wait_s),
            max_request_bytes=settings.max_request_kb * 1024,
        )

    @property
    def api_locked(self) -> bool:
        """True if /api/* needs credentials."""
        return self.users is not None or bool(self.api_token)

    def api_caller(self, authorization: str | None) -> str | None:
        """Who an ``Authorization`` header names ("token" or a user name), or None if nobody valid."""
        scheme, _, value = (authorization or "").strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            return "token" if same_secret(value, self.api_token) else None
        if scheme.lower() == "basic" and self.users is not None:
            try:
                name, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            user = self.users.authenticate_cached(name, password)
            return user.name if user else None
        return None

    def may_change_library(self, username: str | None) -> bool:
        """True if this (logged-in) person may upload, delete or reindex: anyone without login, else admins."""
        if self.users is None:
            return True
        user = self.users.user(username)
        return user is not None and user.is_admin

    def check_login(self, username: str, password: str) -> bool:
        """Gradio's login check: True if the name and password are a user's."""
        return self.users is not None and self.users.authenticate(username, password) is not None


def main(argv: list[str] | None = None) -> int:
    """``python -m ui.security NAME [admin|user]``: print a users-file line (asks for the password)."""
    import getpass

    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2 or (len(args) == 2 and args[1] not in ROLES) or ":" in args[0]:
        print("usage: python -m ui.security NAME [admin|user] >> users.txt  (NAME without ':')", file=sys.stderr)
        return 2
    name, role = args[0], (args[1] if len(args) == 2 else "user")
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        print("use a password of at least 8 characters", file=sys.stderr)
        return 1
    print(f"{name}:{hash_password(password)}:{role}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
