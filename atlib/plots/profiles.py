"""Fig 6, the learning profile of one image, and crisp image marks (the explorer and notebook 02 draw with them)."""

from __future__ import annotations

import base64
import io
import json
from typing import Any, Sequence

import altair as alt
import numpy as np
import pandas as pd

from atlib.plots import style

PROFILE_DATA, PROFILE_GROUPS = "profile", "profile_groups"  # the datasets learning_profile_view reads
PROFILE_LEGEND = "solid black: true class;  dashed: global test accuracy"


def learning_profile_rows(df: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    """One image's :func:`atlib.analysis.learning_profile` frame as the compact rows :func:`learning_profile_view` reads.

    Returns (image row, group row). The image row: ``true_class``, ``classes`` (class indices shown,
    -1 for the summed rest) and ``permille`` (per record point, the per-mille probability of each
    class in ``classes``). The group row, what every image of a group shares: ``epoch`` and
    ``accuracy`` (global test accuracy) per record point. Arrays rather than one row per (point,
    class) keep a 240-image export ten times smaller; the chart unfolds them in the browser.
    """
    style.check_frame(df, ["epoch", "class_index", "probability", "is_true", "global_acc"], "learning_profile")
    epoch = df["epoch"].to_numpy()
    shown = int((epoch == epoch[0]).sum())
    points = len(df) // shown
    classes = df["class_index"].to_numpy()[:shown]
    true = classes[df["is_true"].to_numpy()[:shown]]
    if points * shown != len(df) or len(true) != 1:
        raise ValueError("the frame must hold the same classes at every record point, the true class among them; "
                         "build it with atlib.analysis.learning_profile")
    permille = np.rint(df["probability"].to_numpy().reshape(points, shown) * 1000).astype(np.int64)
    image = {"true_class": int(true[0]), "classes": classes.tolist(), "permille": permille.tolist()}
    group = {"epoch": np.round(epoch[::shown], 4).tolist(), "accuracy": np.round(df["global_acc"].to_numpy()[::shown], 4).tolist()}
    return image, group


def learning_profile_view(class_names: Sequence[str], title: str, subtitle: str | Sequence[str] = PROFILE_LEGEND,
                          where: str | None = None, data: dict | alt.Data | None = None,
                          groups: dict | alt.Data | None = None, other: bool = False) -> alt.LayerChart:
    """Fig 6, the one spec every learning profile is drawn with (charts here, notebook gallery, explorer, export).

    Reads the image rows of :func:`learning_profile_rows` (plus ``pick`` and ``group`` keys) that
    pass the Vega expression ``where`` from ``data`` (default: the named dataset ``"profile"``),
    joins each with its group row from ``groups`` (default ``"profile_groups"``, keyed by ``group``)
    and draws the stacked class probabilities over training, the true class at the bottom outlined
    in black, the global test accuracy dashed over it. Class colours follow ``class_names`` (plus
    ``"other"`` with ``other``), so a class keeps its colour from image to image.
    """
    names = [*class_names, *(["other"] if other else [])]
    base = alt.Chart(alt.Data(name=PROFILE_DATA) if data is None else data)
    if where is not None:
        base = base.transform_filter(where)
    base = base.transform_lookup(
        lookup="group", from_=alt.LookupData(alt.Data(name=PROFILE_GROUPS) if groups is None else groups, key="group",
                                             fields=["epoch", "accuracy"]),
    ).transform_flatten(["epoch", "accuracy", "permille"]).transform_flatten(["permille", "classes"], as_=["permille", "class_index"]
    ).transform_calculate(
        probability="datum.permille / 1000", is_true="datum.class_index == datum.true_class",
        class_name=f"datum.class_index < 0 ? 'other' : {json.dumps(list(class_names))}[datum.class_index]",
        stack_order="datum.class_index == datum.true_class ? -1 : datum.class_index")
    color = alt.Color("class_name:N", scale=alt.Scale(domain=names, scheme="tableau10" if len(names) <= 10 else "tableau20"),
                      legend=style.legend(style.LEGEND_TITLES["class"], symbolType="square") if len(names) <= 20 else None)
    x = alt.X("epoch:Q", axis=style.axis("Epoch"), scale=alt.Scale(nice=False))
    area = base.mark_area(opacity=0.85).encode(
        x=x, y=alt.Y("probability:Q", stack="zero", axis=style.axis("Probability", percent=True), scale=alt.Scale(domain=[0, 1])),
        color=color, order=alt.Order("stack_order:Q"),
        tooltip=["epoch:Q", "class_name:N", alt.Tooltip("probability:Q", format=".3f"),
                 alt.Tooltip("accuracy:Q", format=".3f", title="global accuracy")])
    true_class = base.transform_filter("datum.is_true")
    true_line = true_class.mark_line(color="black", strokeWidth=2.5).encode(x=x, y="probability:Q")
    acc_line = true_class.mark_line(color="#222", strokeDash=[6, 3], strokeWidth=2).encode(x=x, y="accuracy:Q")
    return alt.layer(area, true_line, acc_line).properties(width=style.WIDTH, height=style.HEIGHT, title=style.title(title, subtitle))


def learning_profile_chart(df: pd.DataFrame, title: str | None = None) -> alt.LayerChart:
    """Fig 6 of one image from its :func:`atlib.analysis.learning_profile` frame (:func:`learning_profile_view`, data inline)."""
    image, group = learning_profile_rows(df)
    names = dict(zip(df["class_index"].tolist(), df["class_name"].astype(str)))
    class_names = [names.get(c, str(c)) for c in range(max(names) + 1)]
    return learning_profile_view(class_names, title or f"Learning profile (true class: {class_names[image['true_class']]})",
                                 data={"values": [{"pick": 0, "group": 0, **image}]},
                                 groups={"values": [{"group": 0, **group}]}, other=-1 in names)


def png_bytes(image: np.ndarray, scale: int = 4) -> bytes:
    """A PNG of a uint8 (H, W, 3) image upscaled by nearest neighbour, so its pixels stay sharp at any zoom."""
    from PIL import Image  # local: only image display needs Pillow

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    h, w = image.shape[:2]
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).resize((w * scale, h * scale), Image.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


def png_data_url(image: np.ndarray, scale: int = 4) -> str:
    """:func:`png_bytes` as a ``data:`` URL, for image marks that must work offline."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image, scale)).decode("ascii")


def image_chart(image: np.ndarray, scale: int = 4, title: str | None = None) -> alt.Chart:
    """A crisp enlarged image (:func:`png_data_url`), shown at its own size."""
    url = png_data_url(image, scale)
    h, w = (side * scale for side in np.shape(image)[:2])
    chart = alt.Chart({"values": [{"url": url}]}).mark_image(
        width=w, height=h, align="left", baseline="top").encode(x=alt.value(0), y=alt.value(0), url="url:N")
    props = {"title": alt.TitleParams(title, fontSize=style.LABEL_SIZE)} if title else {}
    return chart.properties(width=w, height=h, view=alt.ViewConfig(strokeWidth=0), **props)
