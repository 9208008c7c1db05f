"""The learning-profile explorer: step through test, NEG or training-probe images and compare how each run group learned them.

The paper argues through single images (Appendix A, Fig 6): easy, hard, monotone and non-monotone
points, and how NT and AT treat the same image. The package, one job per module:

- :mod:`~atlib.explorer.profileset`: :class:`ProfileSet`, the runs' images summarized once (categories,
  final predictions, entropies) and read one image at a time; it also names the three numbers of an
  image (record row, dataset index, pick) and builds the chart rows;
- :mod:`~atlib.explorer.charts`: the views shared by widget and export (one
  :func:`atlib.plots.profiles.learning_profile_view` per group, the entropy chart), over named datasets;
- :mod:`~atlib.explorer.widget`: :class:`ProfileExplorer`, the notebook widget (filters, sort, slider);
- :mod:`~atlib.explorer.export`: :func:`export_html`, the same comparison for a subset of images as one
  self-contained HTML file driven by a Vega slider; ``python -m atlib.explorer`` (:mod:`~atlib.explorer.__main__`);
- :mod:`~atlib.explorer.gallery`: notebook 02's Fig 6 gallery of category examples.
"""

from atlib.lazy import lazy_names

SPLITS = ("test", "neg", "probe")  # the record sets the explorer browses: test, CIFAR-10-NEG, the training probe

_NAMES = {  # name: the submodule defining it, imported on first use
    **dict.fromkeys(["export_html"], "export"),
    **dict.fromkeys(["category_examples", "category_gallery_chart"], "gallery"),
    **dict.fromkeys(["ProfileSet"], "profileset"),
    **dict.fromkeys(["ProfileExplorer"], "widget"),
}
__getattr__ = lazy_names(__name__, _NAMES)
__all__ = sorted([*_NAMES, "SPLITS"])
