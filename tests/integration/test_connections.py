"""One engine per process: the app, its jobs and testpay share one pool, sized by settings, so a
process never holds more Postgres connections than DB_POOL_SIZE + DB_MAX_OVERFLOW."""

from __future__ import annotations

import threading

from sqlalchemy import create_engine, text

from app.db import PoolSettings, Timeouts, shared_engine
from app.providers import get_provider
from tests.checkout_helpers import buy
from tests.conftest import Browser, make_test_app
from tests.factories import variant_with_stock


def test_the_app_and_testpay_share_one_engine(app):
    provider = get_provider("testpay", app.config)
    assert provider._sessions.kw["bind"] is app.extensions["holdfast.db"].engine
    again = make_test_app(app.config["DATABASE_URL"])
    assert again.extensions["holdfast.db"].engine is app.extensions["holdfast.db"].engine


def test_pool_sizes_are_settings():
    engine = shared_engine(
        "postgresql+psycopg://u@127.0.0.1:1/x",
        Timeouts(),
        PoolSettings(size=3, max_overflow=2, timeout_seconds=1.5),
    )
    assert (engine.pool.size(), engine.pool._max_overflow, engine.pool._timeout) == (3, 2, 1.5)


def test_a_burst_of_shoppers_never_takes_more_connections_than_the_pool(_truncated_pg, db):
    url = f"{_truncated_pg}?application_name=holdfast-pool-test"
    app = make_test_app(url, DB_POOL_SIZE=2, DB_MAX_OVERFLOW=1)
    from sqlalchemy.orm import sessionmaker

    from tests.factories import bind

    setup = sessionmaker(
        app.extensions["holdfast.db"].engine.execution_options(isolation_level="AUTOCOMMIT")
    )()
    bind(setup)
    tee = variant_with_stock(setup, 50)
    setup.close()
    watcher = create_engine(_truncated_pg)
    most = []
    stop = threading.Event()

    def watch():
        with watcher.connect() as conn:
            while not stop.is_set():
                most.append(
                    conn.scalar(
                        text(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE application_name = 'holdfast-pool-test'"
                        )
                    )
                )

    def shop():
        buy(Browser(app.test_client()), tee, 1)

    watching = threading.Thread(target=watch)
    watching.start()
    shoppers = [threading.Thread(target=shop) for _ in range(6)]
    for t in shoppers:
        t.start()
    for t in shoppers:
        t.join(timeout=60)
    stop.set()
    watching.join()
    watcher.dispose()
    app.extensions["holdfast.db"].dispose()
    assert max(most) <= 3, max(most)
    assert max(most) >= 1
