"""`python -m benchmarks.speed`: a 5-step fit and sampling, timed per generator."""

from __future__ import annotations

from benchmarks.speed import main
from tests.helpers import tiny


def test_speed_prints_a_row_per_generator_with_its_timings(capsys, monkeypatch):
    import benchmarks.speed as speed

    monkeypatch.setattr(speed, "GARCH_VARIANT", tiny(vol_filter="garch"))
    # the default generator at tiny size too, so that the test stays fast
    real = speed.measure
    monkeypatch.setattr(speed, "measure", lambda s, n: real({**tiny(), **s}, n))
    assert main(["--paths", "3", "--variant", "wide", "hidden=12"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "s |" not in line]
    names = [r.split("|")[1].strip() for r in rows]
    assert names == ["default", "garch filter", "wide"]
    # 16-bar windows with 8 bars of context: 1 + (252 - 16) / 8 rounded up = 31 windows per
    # path, 20 sampler steps each
    for r in rows:
        fit_s, sample_s, ext, per_path, rate = (float(x) for x in r.split("|")[2:7])
        assert fit_s > 0 and sample_s > 0 and ext >= sample_s
        assert per_path == 31 * 20
        # the rate is evaluations over sampling time; the printed time has one decimal, so
        # check it against the extrapolated time (sample_s x 10,000 / 3, printed to the second)
        assert abs(rate - per_path * 10_000 / ext) <= 1 + 0.002 * rate
