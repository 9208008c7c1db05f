"""Altair chart builders for the paper's figures, one per figure, fed by :mod:`atlib.analysis` frames.

No analysis happens here, only reshaping for the chart. :mod:`atlib.plots.style` holds what every chart
shares (sizes, colours, axes, legends, titles, the scale subtitle, saving) and the rules of docs/figures.md;
each other module holds the figures of one subject. The figure builders are re-exported here, so a notebook
writes ``plots.entropy_distribution_chart(frame)``.
"""

from atlib.plots.categories import categories_vs_epsilon_chart, category_distribution_chart, threshold_sweep_chart
from atlib.plots.claims import claims_chart, claims_threshold_chart
from atlib.plots.curves import training_curves_chart
from atlib.plots.dynamics import (data_map_chart, forgetting_histogram_chart, forgetting_summary_chart,
                                  probe_correlation_chart, probe_crosstab_chart, score_distribution_chart,
                                  synthetic_gallery_chart)
from atlib.plots.entropy import entropy_distribution_chart, mean_entropy_chart
from atlib.plots.profiles import image_chart, learning_profile_chart
from atlib.plots.robustness import cifar_c_chart, cifar_c_corruptions_chart, neg_accuracy_chart, robust_accuracy_chart
from atlib.plots.style import save_chart

__all__ = [
    "categories_vs_epsilon_chart", "category_distribution_chart", "cifar_c_chart", "cifar_c_corruptions_chart",
    "claims_chart", "claims_threshold_chart", "data_map_chart", "entropy_distribution_chart",
    "forgetting_histogram_chart", "forgetting_summary_chart", "image_chart", "learning_profile_chart",
    "mean_entropy_chart", "neg_accuracy_chart", "probe_correlation_chart", "probe_crosstab_chart",
    "robust_accuracy_chart", "save_chart", "score_distribution_chart", "synthetic_gallery_chart",
    "threshold_sweep_chart", "training_curves_chart",
]
