"""The plumbing under the PayPal adapter (``app/providers/paypal.py``): the SDK client pointed
at ``PAYPAL_BASE_URL``, the OAuth token, and one SDK call turned into PayPal's JSON answer or a
:class:`ProviderError` (retryable for network errors, 408, 429 and 5xx).

OAuth tokens are cached per (base URL, client) for the process and shared by the SDK client and
the webhook check, so building an adapter per request does not cost a token round trip.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from apimatic_core.exceptions.auth_validation_exception import AuthValidationException
from apimatic_core.utilities.auth_helper import AuthHelper
from paypalserversdk.configuration import Configuration
from paypalserversdk.exceptions.api_exception import ApiException
from paypalserversdk.http.auth.o_auth_2 import ClientCredentialsAuthCredentials
from paypalserversdk.models.o_auth_token import OAuthToken
from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient

from .base import ProviderError, retryable_status

TIMEOUT_SECONDS = 20
TOKEN_MARGIN_SECONDS = 120  # refresh a token this long before PayPal says it expires

_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}  # key -> (token, monotonic expiry)
_tokens_lock = threading.Lock()


class PayPalAPIError(ProviderError):
    """PayPal answered with an HTTP error; ``status`` and PayPal's ``issue`` say which."""

    def __init__(self, message: str, *, status: int, issue: str | None = None) -> None:
        super().__init__(message, retryable=retryable_status(status))
        self.status = status
        self.issue = issue


class _Configuration(Configuration):
    """The SDK's configuration, pointed at ``PAYPAL_BASE_URL`` instead of its two built-in
    hosts. (``Configuration.from_environment(**overrides)`` clones into a plain Configuration
    and would lose this override.)"""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        self._base_url = base_url
        super().__init__(**kwargs)

    def get_base_uri(self, server: Any = None) -> str:
        return self._base_url


@dataclass(frozen=True)
class PayPalCredentials:
    """A REST app's client id and secret at one PayPal base URL, and the token they get."""

    base_url: str
    client_id: str
    client_secret: str = field(repr=False)  # never in a log line

    def sdk_client(self) -> PaypalServersdkClient:
        credentials = ClientCredentialsAuthCredentials(
            o_auth_client_id=self.client_id,
            o_auth_client_secret=self.client_secret,
            o_auth_token_provider=self.sdk_token,
        )
        config = _Configuration(
            self.base_url,
            timeout=TIMEOUT_SECONDS,
            max_retries=0,
            client_credentials_auth_credentials=credentials,
        )
        # With ``config`` given the client takes credentials and environment from it.
        return PaypalServersdkClient(config=config)

    def _token_key(self) -> tuple[str, str, str]:
        return (self.base_url, self.client_id, self.client_secret)

    def access_token(self) -> tuple[str, int]:
        """A valid access token and its remaining seconds, from the cache or PayPal."""
        if not self.client_id or not self.client_secret:
            raise ProviderError("PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET must be set")
        now = time.monotonic()
        with _tokens_lock:
            cached = _tokens.get(self._token_key())
        if cached and cached[1] > now:
            return cached[0], int(cached[1] - now)
        try:
            response = requests.post(
                f"{self.base_url}/v1/oauth2/token",
                auth=(self.client_id, self.client_secret),
                data={"grant_type": "client_credentials"},
                headers={"Accept": "application/json"},
                timeout=TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            raise ProviderError(f"PayPal token: unreachable ({exc})", retryable=True) from exc
        if response.status_code != 200:  # 401 here means wrong client id or secret
            raise ProviderError(
                f"PayPal token: HTTP {response.status_code}",
                retryable=retryable_status(response.status_code),
            )
        try:
            data = response.json()
            token = str(data["access_token"])
            lifetime = max(int(data.get("expires_in", 0)) - TOKEN_MARGIN_SECONDS, 1)
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError("PayPal token: malformed answer", retryable=True) from exc
        with _tokens_lock:
            _tokens[self._token_key()] = (token, now + lifetime)
        return token, lifetime

    def forget_token(self) -> None:
        with _tokens_lock:
            _tokens.pop(self._token_key(), None)

    def sdk_token(self, _last: Any, _auth_manager: Any) -> OAuthToken:
        """The SDK's ``o_auth_token_provider``: hands it the shared cached token."""
        token, lifetime = self.access_token()
        return OAuthToken(
            access_token=token,
            token_type="Bearer",  # noqa: S106 - a token type, not a secret
            expires_in=lifetime,
            expiry=AuthHelper.get_current_utc_timestamp() + lifetime,
        )


def call_once(what: str, call: Callable[[], Any]) -> dict[str, Any]:
    """Run one SDK call and return PayPal's JSON answer as a dict; every failure leaves as
    :class:`ProviderError` (an HTTP error as :class:`PayPalAPIError`)."""
    try:
        response = call()
    except ProviderError:
        raise
    except ApiException as exc:
        raise _api_error(what, exc) from exc
    except AuthValidationException as exc:
        raise ProviderError(f"PayPal {what}: no valid OAuth token ({exc})") from exc
    except requests.RequestException as exc:  # refused, reset, timed out, cut short
        raise ProviderError(f"PayPal {what}: unreachable ({exc})", retryable=True) from exc
    except Exception as exc:  # noqa: BLE001 - any other SDK failure must not leak out
        raise ProviderError(f"PayPal {what} failed: {exc!r}") from exc
    try:
        data = json.loads(response.text or "{}")
    except ValueError as exc:
        raise ProviderError(f"PayPal {what}: answer is not JSON", retryable=True) from exc
    return data if isinstance(data, dict) else {}


def _api_error(what: str, exc: ApiException) -> PayPalAPIError:
    status = int(exc.response_code)
    issue, message = _error_details(getattr(exc.response, "text", ""))
    return PayPalAPIError(
        f"PayPal {what}: HTTP {status} {issue or ''} {message or ''}".strip(),
        status=status,
        issue=issue,
    )


def _error_details(text: str) -> tuple[str | None, str | None]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    details = data.get("details") or [{}]
    issue = details[0].get("issue") if isinstance(details[0], dict) else None
    return issue or data.get("name"), data.get("message")
