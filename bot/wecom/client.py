"""The WeCom API client (self-built app) on httpx.AsyncClient.

Error handling follows PROTOCOL.md: a refused token (40014/42001) is dropped and the call
retried once with a fresh one; a bad secret (40001) stops at once; busy (-1) and limits
(45009/45033) back off with jitter a bounded number of times; timeouts and connection errors
are retried likewise. Whatever still fails raises a `WeComError` subclass with the errcode.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import anyio
import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.clock import Clock
from bot.db import session_scope
from bot.wecom import errors
from bot.wecom.models import AccessToken

log = logging.getLogger(__name__)
_TABLE: sa.Table = AccessToken.__table__  # type: ignore[attr-defined]

REFRESH_MARGIN = timedelta(minutes=5)  # refresh this long before WeCom's expiry
# After WeCom refuses the secret, calls fail fast this long instead of asking again.
CREDENTIAL_COOLDOWN = timedelta(seconds=60)
LEASE = timedelta(seconds=15)


class TokenStore(Protocol):
    async def load(self) -> tuple[str, datetime] | None: ...
    async def try_lease(self, owner: str, now: datetime) -> bool:
        """Take the refresh lease if nobody holds it and the stored token needs refreshing."""
        ...

    async def save(self, token: str, expires_at: datetime) -> None: ...
    async def release(self, owner: str) -> None: ...
    async def drop(self, token: str) -> None: ...


class DbTokenStore:
    """The token row in the database, shared by every worker process of the app."""

    def __init__(self, engine: Engine, app_key: str):
        self.engine = engine
        self.app_key = app_key

    def _load(self) -> tuple[str, datetime] | None:
        with session_scope(self.engine) as s:
            row = s.get(AccessToken, self.app_key)
            if row and row.access_token and row.expires_at:
                return row.access_token, row.expires_at
            return None

    def _try_lease(self, owner: str, now: datetime) -> bool:
        with session_scope(self.engine) as s:
            if s.get(AccessToken, self.app_key) is None:
                try:
                    with s.begin_nested():
                        s.add(AccessToken(app_key=self.app_key))
                        s.flush()
                except IntegrityError:
                    pass
            t = _TABLE
            result = s.execute(
                sa.update(t)
                .where(t.c.app_key == self.app_key)
                .where(sa.or_(t.c.refresh_lease_until.is_(None), t.c.refresh_lease_until < now))
                # Atomic with the check: a token saved a moment ago makes the lease unnecessary.
                .where(
                    sa.or_(
                        t.c.access_token.is_(None),
                        t.c.expires_at.is_(None),
                        t.c.expires_at <= now + REFRESH_MARGIN,
                    )
                )
                .values(refresh_lease_until=now + LEASE, refresh_owner=owner)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _save(self, token: str, expires_at: datetime) -> None:
        t = _TABLE
        with session_scope(self.engine) as s:
            s.execute(
                sa.update(t)
                .where(t.c.app_key == self.app_key)
                .values(
                    access_token=token,
                    expires_at=expires_at,
                    refresh_lease_until=None,
                    refresh_owner=None,
                )
            )

    def _release(self, owner: str) -> None:
        t = _TABLE
        with session_scope(self.engine) as s:
            s.execute(
                sa.update(t)
                .where(t.c.app_key == self.app_key, t.c.refresh_owner == owner)
                .values(refresh_lease_until=None, refresh_owner=None)
            )

    def _drop(self, token: str) -> None:
        t = _TABLE
        with session_scope(self.engine) as s:
            # Only the token that failed: another worker may already have a newer one.
            s.execute(
                sa.update(t)
                .where(t.c.app_key == self.app_key, t.c.access_token == token)
                .values(access_token=None, expires_at=None)
            )

    async def load(self) -> tuple[str, datetime] | None:
        return await anyio.to_thread.run_sync(self._load)

    async def try_lease(self, owner: str, now: datetime) -> bool:
        return await anyio.to_thread.run_sync(self._try_lease, owner, now)

    async def save(self, token: str, expires_at: datetime) -> None:
        await anyio.to_thread.run_sync(self._save, token, expires_at)

    async def release(self, owner: str) -> None:
        await anyio.to_thread.run_sync(self._release, owner)

    async def drop(self, token: str) -> None:
        await anyio.to_thread.run_sync(self._drop, token)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up; tests shrink the delays."""

    attempts: int = 4  # per call, for busy / limits / transport errors
    base_delay: float = 0.5
    max_delay: float = 8.0
    token_wait: float = 10.0  # how long to wait for another worker's token refresh

    def delay(self, attempt: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


class WeComClient:
    """Calls WeCom's API for one self-built app."""

    def __init__(
        self,
        *,
        base_url: str,
        corp_id: str,
        secret: str,
        agent_id: int,
        token_store: TokenStore,
        clock: Clock,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.corp_id = corp_id
        self._secret = secret
        self.agent_id = agent_id
        self.tokens = token_store
        self.clock = clock
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
        self.retry = retry or RetryPolicy()
        self._refresh_lock = asyncio.Lock()
        self._owner = uuid.uuid4().hex
        self._refused: tuple[errors.WeComCredentialError, datetime] | None = None

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- token -------------------------------------------------------------------------
    async def get_token(self) -> str:
        """A valid access token: from the shared cache, or fetched by exactly one worker."""
        cached = await self.tokens.load()
        if cached and cached[1] - REFRESH_MARGIN > self.clock.now():
            return cached[0]
        async with self._refresh_lock:
            if self._refused and self.clock.now() < self._refused[1]:
                raise self._refused[0]
            waited = 0.0
            while True:
                cached = await self.tokens.load()
                now = self.clock.now()
                if cached and cached[1] - REFRESH_MARGIN > now:
                    return cached[0]
                if await self.tokens.try_lease(self._owner, now):
                    break
                # Another process is refreshing; use the old token meanwhile if still valid.
                if cached and cached[1] > now:
                    return cached[0]
                if waited >= self.retry.token_wait:
                    raise errors.WeComTransportError(
                        None, "timed out waiting for token refresh", path="/gettoken"
                    )
                await asyncio.sleep(0.1)
                waited += 0.1
            try:
                data = await self._request(
                    "GET", "/gettoken", params={"corpid": self.corp_id, "corpsecret": self._secret}
                )
            except errors.WeComCredentialError as exc:
                self._refused = (exc, self.clock.now() + CREDENTIAL_COOLDOWN)
                await self.tokens.release(self._owner)
                raise
            except BaseException:
                await self.tokens.release(self._owner)
                raise
            token = str(data["access_token"])
            expires_at = self.clock.now() + timedelta(seconds=int(data.get("expires_in", 7200)))
            await self.tokens.save(token, expires_at)
            log.info(
                "fetched a new WeCom access token", extra={"expires_at": expires_at.isoformat()}
            )
            return token

    # -- transport ---------------------------------------------------------------------
    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One API call with busy/limit/transport retries; returns the body when errcode 0."""
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = await self.http.request(
                    method, self.base_url + path, params=params, json=json
                )
                if resp.status_code >= 500:
                    raise httpx.HTTPStatusError(
                        f"HTTP {resp.status_code}", request=resp.request, response=resp
                    )
                data = resp.json()
            except (httpx.TransportError, httpx.HTTPStatusError, ValueError) as exc:
                if attempt >= self.retry.attempts:
                    raise errors.WeComTransportError(
                        None, f"{type(exc).__name__}: {exc}", path=path
                    ) from None
                log.warning(
                    "WeCom transport error, retrying", extra={"path": path, "attempt": attempt}
                )
                await asyncio.sleep(self.retry.delay(attempt))
                continue
            errcode = int(data.get("errcode", 0))
            if errcode == 0:
                return dict(data)
            errmsg = str(data.get("errmsg", ""))
            if (errcode in errors.RATE_ERRCODES or errcode == errors.BUSY_ERRCODE) and (
                attempt < self.retry.attempts
            ):
                log.warning(
                    "WeCom busy or limited, backing off",
                    extra={"path": path, "errcode": errcode, "errmsg": errmsg},
                )
                await asyncio.sleep(self.retry.delay(attempt))
                continue
            raise errors.error_for(errcode, errmsg, path)

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An authenticated call; a refused token is dropped and the call retried once."""
        token = await self.get_token()
        try:
            return await self._request(
                method, path, params={**(params or {}), "access_token": token}, json=json
            )
        except errors.WeComTokenError as exc:
            log.warning(
                "WeCom refused the access token; fetching a new one",
                extra={"path": path, "errcode": exc.errcode},
            )
            await self.tokens.drop(token)
            token = await self.get_token()
            return await self._request(
                method, path, params={**(params or {}), "access_token": token}, json=json
            )

    # -- endpoints ---------------------------------------------------------------------
    async def send_message(
        self, touser: str, msgtype: str, body: dict[str, Any], *, duplicate_check_seconds: int = 0
    ) -> dict[str, Any]:
        """`message/send` of `msgtype` (text, markdown, textcard, template_card) to `touser`."""
        payload: dict[str, Any] = {
            "touser": touser,
            "msgtype": msgtype,
            "agentid": self.agent_id,
            msgtype: body,
        }
        if duplicate_check_seconds:
            payload["enable_duplicate_check"] = 1
            payload["duplicate_check_interval"] = duplicate_check_seconds
        return await self.call("POST", "/message/send", json=payload)

    async def update_template_card(
        self,
        *,
        userids: list[str],
        response_code: str,
        replace_name: str | None = None,
        template_card: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """`message/update_template_card`: relabel the button, or replace the whole card."""
        payload: dict[str, Any] = {
            "userids": userids,
            "agentid": self.agent_id,
            "response_code": response_code,
        }
        if template_card is not None:
            payload["template_card"] = template_card
        else:
            payload["button"] = {"replace_name": replace_name or "已处理"}
        return await self.call("POST", "/message/update_template_card", json=payload)

    async def get_external_contact(self, external_userid: str) -> dict[str, Any]:
        """`externalcontact/get`, following `next_cursor` so `follow_user` is complete."""
        cursor = ""
        result: dict[str, Any] | None = None
        while True:
            params = {"external_userid": external_userid}
            if cursor:
                params["cursor"] = cursor
            page = await self.call("GET", "/externalcontact/get", params=params)
            if result is None:
                result = page
            else:
                result["follow_user"] = result.get("follow_user", []) + page.get("follow_user", [])
            cursor = str(page.get("next_cursor") or "")
            if not cursor:
                return result

    async def get_agent_ticket(self) -> tuple[str, int]:
        """The app's JS-SDK ticket for `agentConfig` (`ticket/get?type=agent_config`)."""
        data = await self.call("GET", "/ticket/get", params={"type": "agent_config"})
        return str(data["ticket"]), int(data.get("expires_in", 7200))

    async def get_userid_by_code(self, code: str) -> str | None:
        """The member behind an OAuth `code` (`auth/getuserinfo`); None for a non-member."""
        data = await self.call("GET", "/auth/getuserinfo", params={"code": code})
        return str(data.get("userid") or data.get("UserId") or "") or None
