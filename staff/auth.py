"""Who is asking: session cookies, bearer tokens, roles and CSRF checks for the staff server.

Browsers log in with a form and get an HttpOnly, SameSite=Strict session cookie; the
session row holds a CSRF token that every state-changing request made with that cookie must
echo (form field ``csrf_token`` or header ``X-CSRF-Token``). API clients such as a remote
kiosk send ``Authorization: Bearer <token>`` instead; they carry no cookie, so a browser
cannot be tricked into sending their credentials, and they need no CSRF token. The login
form itself (no session yet) uses a double-submit cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request

from centre import users
from centre.users import Session, User

SESSION_COOKIE = "staff_session"
FORM_CSRF_COOKIE = "staff_form_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
ALL_ROLES = users.ROLES


class AuthRequired(Exception):
    """Nobody is logged in (or the session expired)."""


class Forbidden(Exception):
    """The user is logged in but their role or counters do not allow this."""


class CsrfFailed(Exception):
    """A state-changing request made with a session cookie lacks the right CSRF token."""


@dataclass(frozen=True)
class Principal:
    """The caller: a user, and the session when they came with a cookie."""

    user: User
    session: Session | None = None
    token_hash: str = ""  # the bearer token's hash, when the caller came with one

    @property
    def login_key(self) -> str:
        """Which login this is (the session cookie's or the API token's hash): what a per-login
        limit counts, e.g. the live streams one login may hold (staff.events.MAX_STREAMS_PER_SESSION)."""
        return f"session:{self.session.token_hash}" if self.session else f"token:{self.token_hash}"

    @property
    def actor(self) -> str:
        """How the queue and the audit log name this caller."""
        return f"{self.user.role}:{self.user.name}"

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session else ""


def principal(request: Request) -> Principal | None:
    """The caller of this request, looked up once and cached on the request."""
    if hasattr(request.state, "principal"):
        return request.state.principal
    staff = request.app.state.staff
    conn = staff.conn()
    found = None
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        user = users.user_for_token(conn, token)
        found = Principal(user, token_hash=hashlib.sha256(token.encode("utf-8")).hexdigest()) if user else None
    else:
        sess = users.get_session(conn, request.cookies.get(SESSION_COOKIE), now=staff.now())
        found = Principal(sess.user, sess) if sess else None
    request.state.principal = found
    return found


async def check_csrf(request: Request, who: Principal | None) -> None:
    """Raise CsrfFailed when an unsafe request lacks the token its session (or form cookie) expects."""
    if request.method in SAFE_METHODS:
        return
    if who is not None and who.session is None:
        return  # bearer token: no ambient credentials, nothing to forge
    expected = who.session.csrf if who is not None else request.cookies.get(FORM_CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        sent = str(form.get("csrf_token", ""))
    if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfFailed("CSRF token missing or wrong")


def require(*roles: str):
    """A dependency: the caller must be logged in with one of `roles` (and pass CSRF on writes)."""
    bad = set(roles) - set(ALL_ROLES)
    if bad:
        raise ValueError(f"unknown roles {bad}")

    async def dependency(request: Request) -> Principal:
        who = principal(request)
        if who is None:
            raise AuthRequired()
        if who.user.role not in roles:
            raise Forbidden(f"role {who.user.role} may not do this")
        await check_csrf(request, who)
        return who

    dependency.roles = roles  # read by the docs and the route × role test
    return dependency


def public():
    """A dependency for public writes (ticket rating): only the double-submit CSRF check."""

    async def dependency(request: Request) -> Principal | None:
        await check_csrf(request, principal(request))
        return None

    dependency.roles = ()
    return dependency


def client_address(request: Request) -> str:
    """The client's address. X-Forwarded-For is believed only from cfg.staff.trusted_proxies
    (the server passes them to uvicorn; without any, the peer address is the client)."""
    return request.client.host if request.client else ""


def form_csrf_token(request: Request) -> str:
    """The double-submit token for forms shown before login (set as a cookie by the page)."""
    return request.cookies.get(FORM_CSRF_COOKIE) or secrets.token_urlsafe(24)


def require_counter(who: Principal, counter_id: int) -> None:
    """Raise Forbidden unless the caller may work at this counter."""
    if not who.user.can_use_counter(counter_id):
        raise Forbidden(f"user {who.user.name} is not bound to counter {counter_id}")
