"""bench/pages.py's summary: a round one gunicorn worker served alone is left out."""

from bench.pages import summary


def _run(rps: float, share: float | None) -> dict:
    return {
        "rps": rps,
        "p50_ms": 5.0,
        "p99_ms": 20.0,
        "requests": 1,
        "errors": 0,
        "busiest_worker_share": share,
    }


def test_one_sided_rounds_are_left_out_of_the_median():
    rounds = [
        {"home": _run(2800, 0.52), "bare": _run(4400, 0.5)},
        {"home": _run(1000, 1.0), "bare": _run(4200, 0.51)},
        {"home": _run(2600, 0.5), "bare": _run(1700, 0.99)},
    ]
    figures = summary(rounds)
    assert figures["home"]["rps"] == 2700 and figures["home"]["rounds_left_out"] == 1
    assert figures["bare"]["rps"] == 4300 and figures["bare"]["rounds_left_out"] == 1
    assert figures["home"]["vs_bare"] == round(2700 / 4300, 3)


def test_when_every_round_is_one_sided_all_of_them_count():
    rounds = [{"bare": _run(1000, 1.0)}, {"bare": _run(1200, 0.95)}]
    assert summary(rounds)["bare"]["rps"] == 1100
