"""Fig 1: the entropy of test predictions (its distribution, its mean over training)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from atlib.plots import style
from atlib.plots.curves import band_and_line


def entropy_distribution_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Fig 1a: entropy histograms of the test predictions, one outline per setting (from ``analysis.entropy_distribution``)."""
    style.check_frame(df, [*style.IDS, "epoch", "bin_start", "bin_end", "density"], "entropy_distribution")

    def build(rows: pd.DataFrame, name: str) -> alt.Chart:
        epochs = sorted(rows["epoch"].unique())
        at = f"epoch {epochs[0]:g}" if len(epochs) == 1 else f"epochs {', '.join(f'{e:g}' for e in epochs)}"
        return style.outline_histogram("Entropy of the prediction (nats)", style.color_by_label(df),
                                       style.inline_data(style.outline_rows(rows))).properties(width=style.WIDTH, height=style.HEIGHT, title=style.title(f"{name}: entropy of test predictions", at))

    return style.per_dataset(df, build)


def mean_entropy_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Fig 1b: mean test entropy over training, one line per run kind, ±1 std over seeds."""
    style.check_frame(df, [*style.IDS, "epoch", "mean", "std"], "mean_entropy_curves")
    return style.per_dataset(df, lambda rows, name: band_and_line(rows, "Mean entropy (nats)", False,
                                                               f"{name}: mean entropy over training", "band: ±1 std over seeds"))
