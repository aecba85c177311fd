"""Fixtures for the provider adapter tests: each test runs once per provider (``name``), against
a fake of that provider's API on 127.0.0.1 (``fake``), through the adapter the registry builds
for it (``adapter``).

Each is named with ``name=``, so a test module imports it by its function name
(``fixture_adapter``, ...) and the import does not clash with the test argument it provides.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.providers import PaymentProvider, get_provider
from tests.fakes import FakeProvider
from tests.provider_adapter_helpers import FAKES, PROVIDERS


@pytest.fixture(name="name", params=PROVIDERS)
def fixture_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(name="fake")
def fixture_fake(name: str) -> Iterator[FakeProvider]:
    server = FAKES[name]()
    yield server
    server.stop()


@pytest.fixture(name="adapter")
def fixture_adapter(name: str, fake: FakeProvider) -> PaymentProvider:
    return get_provider(name, fake.settings)
