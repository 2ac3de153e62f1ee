"""Robustness report page: offline, self-contained, stable sections, PNGs beside it."""

from __future__ import annotations

import base64
import dataclasses
import re
import socket
import types

import numpy as np
import pandas as pd
import pytest
from _html import remote_urls

from diffbt.report.robustness import SECTIONS, render_robustness, robustness_report

_IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network blocked by test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def _returns(seed: int = 0, n_paths: int = 30, n_steps: int = 80) -> np.ndarray:
    r = np.random.default_rng(seed).normal(4e-4, 0.01, (n_paths, n_steps))
    r[4] = np.nan  # failed path
    return r


def _pieces(r: np.ndarray) -> dict:
    eq = np.cumprod(1 + np.nan_to_num(r), axis=1)
    metrics = pd.DataFrame({
        "sharpe": r.mean(axis=1) / r.std(axis=1, ddof=1) * np.sqrt(252),
        "max_drawdown": (eq / np.maximum.accumulate(eq, axis=1) - 1).min(axis=1),
        "cagr": eq[:, -1] ** (252 / r.shape[1]) - 1,
    })
    table = pd.DataFrame({"metric": ["sharpe", "cagr"], "real": [1.1, 0.2], "p50": [0.5, 0.1]})
    return {"metrics": metrics, "table": table, "verdict": "MIXED: <script>x</script> & co",
            "summary": {"n_paths": len(r), "prob_loss": 0.25}}


def _facts() -> pd.DataFrame:
    return pd.DataFrame({"fact": ["kurtosis", "acf_abs"], "real": [5.0, 0.2],
                         "synthetic": [3.0, 0.1], "distance": [2.0, 0.1]})


def _headings(html: str) -> list[str]:
    return re.findall(r"<h2>([^<]+)</h2>", html)


def test_render_robustness_writes_self_contained_page_and_pngs(offline, tmp_path):
    r = _returns()
    real = np.random.default_rng(7).normal(5e-4, 0.01, r.shape[1])
    idx = pd.bdate_range("2020-01-01", periods=r.shape[1], tz="UTC")
    out = render_robustness(r, real_returns=real, real_metrics={"sharpe": 1.1}, index=idx,
                            facts=_facts(), out_dir=tmp_path / "rep", title="T & T",
                            **_pieces(r))
    assert out == tmp_path / "rep" / "robustness.html"
    html = out.read_text(encoding="utf-8")
    assert _headings(html) == list(SECTIONS)
    assert remote_urls(html) == []
    assert "<script" not in html and "MIXED: &lt;script&gt;x&lt;/script&gt; &amp; co" in html
    assert "<title>T &amp; T</title>" in html and "(1 failed)" in html
    embedded = [base64.b64decode(b) for b in _IMG.findall(html)]
    files = [tmp_path / "rep" / f for f in ("fan_chart.png", "histograms.png", "facts.png")]
    assert embedded == [f.read_bytes() for f in files]  # the PNG files are the same figures
    assert all(b[:8] == b"\x89PNG\r\n\x1a\n" for b in embedded)
    # robustness table and facts table rendered, with their values
    assert re.search(r"<th>sharpe</th>\s*<td>1\.1</td>\s*<td>0\.5</td>", html)
    assert re.search(r"<th>kurtosis</th>\s*<td>5</td>\s*<td>3</td>\s*<td>2</td>", html)


def test_render_robustness_without_facts_has_no_facts_section(tmp_path):
    r = _returns(n_paths=10)
    out = render_robustness(r, out_dir=tmp_path, **_pieces(r))
    html = out.read_text(encoding="utf-8")
    assert _headings(html) == list(SECTIONS[:-1])
    assert len(_IMG.findall(html)) == 2
    assert not (tmp_path / "facts.png").exists()
    assert "no real backtest" in html


def test_render_robustness_drops_failed_paths_from_histograms(tmp_path, monkeypatch):
    import diffbt.report.robustness as mod

    seen = {}

    def spy(metrics, **kwargs):
        seen["metrics"] = metrics
        return real_hist(metrics, **kwargs)

    real_hist = mod.metric_histograms
    monkeypatch.setattr(mod, "metric_histograms", spy)
    r = _returns(n_paths=12)
    render_robustness(r, out_dir=tmp_path, **_pieces(r))
    assert list(seen["metrics"].index) == [i for i in range(12) if i != 4]


def test_render_robustness_rejects_non_table_facts(tmp_path):
    r = _returns(n_paths=5)
    with pytest.raises(TypeError, match="facts"):
        render_robustness(r, out_dir=tmp_path, facts=[1, 2], **_pieces(r))


def test_robustness_report_from_result_with_metrics_layer(offline, tmp_path):
    pytest.importorskip("diffbt.metrics.robustness")
    from diffbt.metrics.robustness import robustness

    rng = np.random.default_rng(3)
    r = rng.normal(4e-4, 0.01, (40, 120))
    res = types.SimpleNamespace(returns=r, real_returns=rng.normal(5e-4, 0.01, 120),
                                index=pd.bdate_range("2020-01-01", periods=120),
                                regimes=np.array(["bull", "bear"] * 20), periods_per_year=252)
    lags = np.arange(1, 6)
    facts = types.SimpleNamespace(table=_facts(), curves={"acf_abs": (0.5 ** lags, 0.4 ** lags)})
    out = robustness_report(res, out_dir=tmp_path, facts=facts)
    html = out.read_text(encoding="utf-8")
    assert _headings(html) == list(SECTIONS)
    rep = robustness(res)
    assert rep.verdict.split(":")[0] in html
    assert "<h3>By regime</h3>" in html and "<td>bull</td>" in html
    for name in ("fan_chart.png", "histograms.png", "facts.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert len(_IMG.findall(html)) == 3


def test_robustness_report_accepts_a_given_report(tmp_path):
    r = _returns(n_paths=8)
    res = types.SimpleNamespace(returns=r, real_returns=None, index=None, regimes=None,
                                periods_per_year=252)
    from diffbt.metrics.robustness import robustness

    rep = dataclasses.replace(robustness(res), verdict="ROBUST: hand-made")
    html = robustness_report(res, out_dir=tmp_path, report=rep).read_text(encoding="utf-8")
    assert "ROBUST: hand-made" in html and _headings(html) == list(SECTIONS[:-1])


def _verdict_section(html: str) -> str:
    return html[html.index('<section id="verdict">'):html.index("</section>")]


def test_verdict_section_states_how_often_the_test_is_right(tmp_path):
    from pathlib import Path

    from diffbt.report.robustness import PLANTED_RATES

    r = _returns(n_paths=10)
    html = render_robustness(r, out_dir=tmp_path / "a", **_pieces(r)).read_text()
    verdict = _verdict_section(html)
    doc = (Path(__file__).parents[2] / "docs" / "verdict.md").read_text(encoding="utf-8")
    for rates in PLANTED_RATES.values():
        text = (f"called ROBUST in {rates['detection']:.0%} of {int(rates['n_skill'])} cases "
                f"and a strategy without one in {rates['false_alarm']:.0%} of "
                f"{int(rates['n_luck'])}")
        assert text in verdict
        # the constants are the published table's numbers
        assert f"{rates['detection']:.0%} ({round(rates['detection'] * rates['n_skill'])}/"\
               f"{int(rates['n_skill'])})" in doc
        assert f"{rates['false_alarm']:.0%} ({round(rates['false_alarm'] * rates['n_luck'])}/"\
               f"{int(rates['n_luck'])})" in doc
    assert "docs/verdict.md" in verdict and "benchmarks.planted" in verdict
    none = render_robustness(r, out_dir=tmp_path / "b", reliability=None, **_pieces(r))
    assert 'class="note"' not in _verdict_section(none.read_text())
    own = render_robustness(r, out_dir=tmp_path / "c", reliability="right 9 times in 10 & co",
                            **_pieces(r))
    assert "right 9 times in 10 &amp; co" in _verdict_section(own.read_text())
