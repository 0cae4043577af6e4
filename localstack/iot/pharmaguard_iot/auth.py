"""Device credentials, checked against the deployed auth API.

A device connects with its id as MQTT user name and the secret it got when it
was registered (`POST /v1/auth/devices`) as password. The broker asks the auth
API for a device token with them (`POST /v1/auth/devices/token`): 200 means
the credentials are good, 400 or 401 that they are not. A success is cached
for `ttl` seconds (by device id and a hash of the secret, never the secret), so
a fleet reconnecting does not hammer the API; a failure is never cached.

The token the API returns names the device's organisation (claim `org`): the
authenticator remembers it per device, as IoT Core's thing registry holds it
as the thing's `org_id` attribute, for the telemetry rule's `sender`.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import hashlib
import logging
import json
import time
from collections.abc import Callable

import requests

from .stack import OutputsFile, StackNotDeployed

LOG = logging.getLogger("pharmaguard.iot.auth")

DEFAULT_TTL = 300.0


class Verdict(enum.Enum):
    ACCEPTED = "accepted"
    REFUSED = "refused"  # unknown device or wrong secret
    UNAVAILABLE = "unavailable"  # the auth API could not answer


def org_of_token(token: str) -> str | None:
    """The `org` claim of an access token the auth API just issued (read, not
    verified: the token came straight from the API)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    org = claims.get("org") if isinstance(claims, dict) else None
    return org if isinstance(org, str) and org else None


def token_endpoint_check(
    outputs: OutputsFile, timeout: float = 10.0
) -> Callable[[str, str], Verdict | tuple[Verdict, str | None]]:
    """A blocking check that asks the deployed auth API."""
    session = requests.Session()

    def check(device_id: str, secret: str) -> Verdict:
        try:
            url = outputs.current().api_base_url + "/v1/auth/devices/token"
        except StackNotDeployed as error:
            LOG.warning("cannot check device credentials: %s", error)
            return Verdict.UNAVAILABLE
        try:
            response = session.post(url, json={"device_id": device_id, "secret": secret}, timeout=timeout)
        except requests.RequestException as error:
            LOG.warning("auth API unreachable at %s: %s", url, error)
            return Verdict.UNAVAILABLE
        if response.status_code == 200:
            try:
                return Verdict.ACCEPTED, org_of_token(response.json().get("access_token", ""))
            except ValueError:
                return Verdict.ACCEPTED, None
        if response.status_code in (400, 401, 403, 404):
            return Verdict.REFUSED
        LOG.warning("auth API answered %s for device %s", response.status_code, device_id)
        return Verdict.UNAVAILABLE

    return check


class DeviceAuthenticator:
    """Checks device credentials with a blocking `check` (run in a thread) and
    caches successes for `ttl` seconds."""

    def __init__(self, check: Callable[[str, str], Verdict | tuple[Verdict, str | None]], ttl: float = DEFAULT_TTL,
                 clock=time.monotonic):
        self._check = check
        self._orgs: dict[str, str] = {}
        self._ttl = ttl
        self._clock = clock
        self._accepted: dict[tuple[str, str], float] = {}
        self.calls = 0

    @staticmethod
    def _key(device_id: str, secret: str) -> tuple[str, str]:
        return device_id, hashlib.sha256(secret.encode("utf-8")).hexdigest()

    async def authenticate(self, device_id: str, secret: str) -> Verdict:
        key = self._key(device_id, secret)
        expires = self._accepted.get(key)
        now = self._clock()
        if expires is not None and expires > now:
            return Verdict.ACCEPTED
        self._accepted.pop(key, None)
        self.calls += 1
        verdict = await asyncio.to_thread(self._check, device_id, secret)
        if isinstance(verdict, tuple):
            verdict, org = verdict
            if verdict is Verdict.ACCEPTED and org:
                self._orgs[device_id] = org
        if verdict is Verdict.ACCEPTED and self._ttl > 0:
            self._accepted[key] = self._clock() + self._ttl
            if len(self._accepted) > 10_000:
                self._forget_expired()
        return verdict

    def org_of(self, device_id: str) -> str | None:
        """The organisation of a device that logged in (from its token)."""
        return self._orgs.get(device_id)

    def _forget_expired(self) -> None:
        now = self._clock()
        for key in [key for key, expires in self._accepted.items() if expires <= now]:
            del self._accepted[key]
