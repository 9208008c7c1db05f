"""The notebook widget: pick a test, NEG or training-probe image by filters, sort order and slider; compare how
every group learned it."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from atlib import metrics
from atlib.plots import profiles
from atlib.explorer.charts import compile_spec, explorer_views
from atlib.explorer.profileset import ALL, OUTCOMES, SORTS, SPLITS, ProfileSet, RunsLike

IMAGE_SCALE = 5  # nearest-neighbour upscaling: a 32x32 image shows as 160x160 sharp pixels
TABLE_STYLE = "<style>.atlib-categories th, .atlib-categories td {padding: 3px 12px; text-align: left}</style>"


class ProfileExplorer:
    """Notebook widget: filters and a slider choose an image; it shows the image, its category under
    every group, and its Fig 6 profile and entropy under every group side by side (and, for the training
    probe, its loss and margin at each presentation).

    Everything a test or a user needs is reachable without a browser: set the control widgets'
    values (``split``, ``reference``, ``category``, ``true_class``, ``outcome``, ``sort``, ``slider``) and read
    ``order`` (record rows in slider order), ``row`` (the record row shown), ``dataset_index``,
    ``categories`` and ``spec``. The chart spec is compiled once; a slider move swaps its datasets.
    """

    def __init__(self, data: ProfileSet, reference: int | str = 0) -> None:
        import ipywidgets as w

        if data.images is None:
            raise FileNotFoundError(f"the explorer shows the images the runs evaluated: {data.images_error}")
        self.data = data
        self._spec = self._compile(data)
        self._chart_widget: Any = None
        self._widget: Any = None
        self._muted = False
        self.order = np.zeros(0, dtype=np.int64)
        self.row: int | None = None
        self.categories = pd.DataFrame()
        self.spec: dict[str, Any] | None = None
        self.last_update_s = 0.0

        wide = {"description_width": "initial"}
        self.split = w.Dropdown(options=[s for s in SPLITS if all(g.has(s) for g in data.groups)], value=data.split,
                                description="images", style=wide)
        self.split.observe(self._on_split, names="value")
        self.reference = w.Dropdown(options=[(lbl, i) for i, lbl in enumerate(data.group_labels)],
                                    value=data.group_index(reference), description="categories under", style=wide)
        self.category = w.Dropdown(options=[ALL, *metrics.CATEGORIES], value=ALL, description="category", style=wide)
        self.true_class = w.Dropdown(options=[(ALL, -1), *[(n, i) for i, n in enumerate(data.class_names)]], value=-1,
                                     description="class", style=wide)
        self.outcome = w.Dropdown(options=list(OUTCOMES), value=ALL, description="final prediction", style=wide)
        self.sort = w.Dropdown(options=list(SORTS), value=SORTS[0], description="sort by", style=wide)
        self.slider = w.IntSlider(value=0, min=0, max=0, description="image", continuous_update=False, readout=False,
                                  layout=w.Layout(width="60%"))
        self.status = w.HTML()
        self.image = w.Image(format="png", layout=w.Layout(width=f"{data.image_size * IMAGE_SCALE}px",
                                                               height=f"{data.image_size * IMAGE_SCALE}px"))
        self.table = w.HTML()
        for control in (self.reference, self.category, self.true_class, self.outcome, self.sort):
            control.observe(self._on_filter, names="value")
        self.slider.observe(self._on_slide, names="value")
        self._controls = w.VBox([w.HBox([self.split, self.reference, self.category, self.true_class, self.outcome, self.sort],
                                        layout=w.Layout(flex_flow="row wrap")),
                                 w.HBox([self.slider, self.status]), w.HBox([self.image, self.table])])
        self._on_filter()

    @classmethod
    def from_runs(cls, runs: RunsLike, split: str = "test", threshold: float | None = None,
                  reference: int | str = 0, images: np.ndarray | None = None) -> "ProfileExplorer":
        """The explorer over ``runs`` (glob, folder, list of runs or groups), seeds grouped;
        ``threshold`` None is each group's ``metrics.default_threshold``."""
        return cls(ProfileSet.load(runs, split, threshold, images), reference)

    # -- display

    @property
    def chart(self) -> Any:
        """The ``alt.JupyterChart`` showing the profiles (created on first use: offline JS bundling takes seconds)."""
        if self._chart_widget is None:
            import altair as alt

            alt.JupyterChart.enable_offline()  # JavaScript from vl-convert, not a CDN: works air-gapped
            self._chart_widget = alt.JupyterChart(None, embed_options={"renderer": "svg", "actions": False})
            self._chart_widget.spec = self.spec
        return self._chart_widget

    @property
    def widget(self) -> Any:
        """The whole explorer: controls, image, category table and the chart."""
        if self._widget is None:
            import ipywidgets as w

            self._widget = w.VBox([self._controls, self.chart])
        return self._widget

    def show(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- state

    @property
    def dataset_index(self) -> int | None:
        return None if self.row is None else int(self.data.dataset_index[self.row])

    def select(self, pick: int) -> float:
        """Show the ``pick``-th image of the filtered list, as moving the slider does; returns the update's seconds."""
        if not 0 <= pick < len(self.order):
            raise ValueError(f"pick must be in [0, {len(self.order)}): {len(self.order)} images pass the filters")
        if self.slider.value == pick:
            self._show()
        else:
            self.slider.value = pick
        return self.last_update_s

    @staticmethod
    def _compile(data: ProfileSet) -> dict[str, Any]:
        import altair as alt

        views = explorer_views(data, lambda g: f"datum.group == {g}")
        return compile_spec(alt.vconcat(*views).resolve_scale(color="independent"))

    def _on_split(self, _: Any) -> None:
        """Browse another record set of the same runs (test, NEG, training probe): summarize it, refilter."""
        self.data = ProfileSet.load(self.data.groups, self.split.value, self.data.threshold)
        self._spec = self._compile(self.data)
        self._on_filter()

    def _on_filter(self, _: Any = None) -> None:
        true_class = None if self.true_class.value < 0 else self.true_class.value
        self.order = self.data.filtered_rows(self.reference.value, self.category.value, true_class, self.outcome.value,
                                             self.sort.value)
        self._muted = True  # one render below, not one per slider trait change
        try:
            self.slider.value = 0
            self.slider.max = max(len(self.order) - 1, 0)
            self.slider.disabled = len(self.order) == 0
        finally:
            self._muted = False
        self._show()

    def _on_slide(self, _: Any) -> None:
        if not self._muted:
            self._show()

    def _show(self) -> None:
        start = time.perf_counter()
        if len(self.order) == 0:
            self.row, self.spec, self.categories = None, None, pd.DataFrame()
            self.status.value = "<b>no image passes these filters</b>"
            self.table.value, self.image.value = "", b""
        else:
            self._render(int(self.order[self.slider.value]))
        if self._chart_widget is not None:
            self._chart_widget.spec = self.spec
        self.last_update_s = time.perf_counter() - start

    def _render(self, row: int) -> None:
        data = self.data
        self.row = row
        self.categories = data.category_frame(row)
        caption = data.caption(row)
        self.status.value = f"{self.slider.value + 1} of {len(self.order)} images · <b>{caption}</b>"
        self.table.value = TABLE_STYLE + self.categories.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0,
                                                                 classes="atlib-categories")
        self.image.value = profiles.png_bytes(data.image(row), IMAGE_SCALE)
        self.spec = {**self._spec, "title": {"text": caption, "anchor": "start", "fontSize": 16},
                     "datasets": data.chart_rows([row])}
