"""The baselines' stylized-facts table (``python -m benchmarks.facts``) on a short span."""

from __future__ import annotations

from benchmarks.facts import main
from diffbt.metrics.facts import FACTS


def test_facts_table_writes_the_tables_and_skips_missing_crypto(tmp_path, capsys):
    out = tmp_path / "quality.md"
    assert main(["--train-end", "2014-12-31", "--eval-end", "2015-06-30", "--paths", "3",
                 "--crypto", str(tmp_path / "absent"), "--out", str(out)]) == 0
    text = out.read_text()
    assert "python -m benchmarks.facts --train-end 2014-12-31" in text
    for key in FACTS:
        assert f"`{key}`" in text
    assert "GARCH(1,1)-t CCC" in text and "Skipped: crypto data missing" in text
    assert "skipping the crypto table" in capsys.readouterr().err
