"""Outside text as chart labels: what matplotlib would otherwise read as markup or hide."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from checkout_freshportal.reports.charts import label


@pytest.mark.parametrize("code", ["_hidden", "__x", "$x$_", "20051"])
def test_every_outside_label_reaches_the_legend(code: str) -> None:
    """A response code starting with "_" drew its bar with no legend entry (matplotlib skips
    such labels); "$" would switch to math mode."""
    fig, ax = plt.subplots()
    try:
        ax.bar([0], [1], label=label(code))
        texts = [t.get_text() for t in ax.legend().get_texts()]
    finally:
        plt.close(fig)
    assert len(texts) == 1
    assert texts[0].strip().replace("\\$", "$") == code
