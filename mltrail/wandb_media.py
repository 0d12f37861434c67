"""The media values of `mltrail.wandb`: `Table`, `Histogram` and `Image`, stored when the step
they were logged at is committed, through the SDK's own `log_table`, `log_histogram` and
`log_image` (see `mltrail.media`), so a W&B script's media are stored as the SDK's are:

- `Table(columns=..., data=...)` -> `media/tables/<key>/step-<N>.parquet` (needs pyarrow:
  `wandb.log` of a Table raises at once without it);
- `Histogram(sequence)` or `Histogram(np_histogram=(counts, bins))` ->
  `media/histograms/<key>/step-<N>.json`, holding `{"key", "step", "edges", "counts"}`;
- `Image(array, PIL image or file path, caption=...)` -> `media/images/<key>/step-<N>.png`
  (a file keeps its suffix), its caption in `media/index.json`.

Encoding an array as PNG needs pillow (and numpy for arrays); without them `Image` of an array
raises at once, naming what is missing, rather than dropping the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltrail.media import MAX_HISTOGRAM_BINS, finite_number, image_file

if TYPE_CHECKING:
    from mltrail.run import ActiveRun

__all__ = ["Histogram", "Image", "Media", "Table"]


class Media:
    """A value `wandb.log` stores as a file rather than a metric point."""

    def store(self, run: ActiveRun, key: str, step: int) -> None:
        """Store the value among `run`'s media at `step`."""
        raise NotImplementedError


def _plain(value: Any) -> Any:
    """A cell as JSON can hold it: numpy scalars via `.item()`, anything else unknown as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return _plain(item())
        except (TypeError, ValueError):
            pass
    return str(value)


class Table(Media):
    """`wandb.Table(columns=[...], data=[[...], ...])`, `dataframe=` (pandas) or rows added
    with `add_data(*row)`; logged as a JSON file of columns and rows."""

    def __init__(
        self,
        columns: Sequence[str] | None = None,
        data: Sequence[Sequence[Any]] | None = None,
        rows: Sequence[Sequence[Any]] | None = None,
        dataframe: Any = None,
    ) -> None:
        if dataframe is not None:
            columns = [str(column) for column in dataframe.columns]
            data = dataframe.values.tolist()
        rows = data if data is not None else rows
        self.data: list[list[Any]] = [list(row) for row in rows or []]
        if columns is None:
            width = len(self.data[0]) if self.data else 0
            columns = [f"col{i}" for i in range(width)]
        self.columns = [str(column) for column in columns]
        for number, row in enumerate(self.data):
            self._check_width(row, f"row {number}")

    def _check_width(self, row: Sequence[Any], what: str) -> None:
        if len(row) != len(self.columns):
            raise ValueError(
                f"Table: {what} has {len(row)} values but the table has "
                f"{len(self.columns)} columns ({', '.join(self.columns)})"
            )

    def add_data(self, *row: Any) -> None:
        """Append one row, a value per column."""
        self._check_width(row, "the added row")
        self.data.append(list(row))

    def store(self, run: ActiveRun, key: str, step: int) -> None:
        rows = [[_plain(v) for v in row] for row in self.data]
        run.log_table(key, rows, step=step, columns=self.columns)


def _number(value: Any, what: str) -> float:
    return finite_number(value, what, caller="Histogram", not_a_number=TypeError)


class Histogram(Media):
    """`wandb.Histogram(sequence, num_bins=64)` (counted here into equal bins), or
    `wandb.Histogram(np_histogram=(counts, bin_edges))`; logged as JSON of bins and counts."""

    def __init__(
        self,
        sequence: Sequence[Any] | Any = None,
        np_histogram: tuple[Sequence[Any], Sequence[Any]] | None = None,
        num_bins: int = 64,
    ) -> None:
        if np_histogram is not None:
            counts, bins = np_histogram
            self.counts = [int(_number(c, "counts")) for c in counts]
            self.bins = [_number(b, "bin edges") for b in bins]
            if len(self.bins) != len(self.counts) + 1:
                raise ValueError(
                    f"Histogram: np_histogram needs one more bin edge than counts "
                    f"(got {len(self.bins)} edges for {len(self.counts)} counts)"
                )
            return
        if sequence is None:
            raise TypeError("Histogram needs a sequence of numbers or np_histogram=(counts, bins)")
        if not isinstance(num_bins, int) or not 1 <= num_bins <= MAX_HISTOGRAM_BINS:
            raise ValueError(f"Histogram: num_bins must be 1-{MAX_HISTOGRAM_BINS}, got {num_bins}")
        flat = sequence.ravel().tolist() if hasattr(sequence, "ravel") else list(sequence)
        values = [_number(v, "the sequence's values") for v in flat]
        if not values:
            raise ValueError("Histogram: the sequence is empty")
        low, high = min(values), max(values)
        if low == high:
            low, high = low - 0.5, high + 0.5
        width = (high - low) / num_bins
        self.bins = [low + i * width for i in range(num_bins)] + [high]
        self.counts = [0] * num_bins
        for value in values:
            self.counts[min(int((value - low) / width), num_bins - 1)] += 1

    def store(self, run: ActiveRun, key: str, step: int) -> None:
        run.log_histogram(key, step=step, counts=self.counts, edges=self.bins)


class Image(Media):
    """`wandb.Image(data, caption=None)`: a numpy array (H×W, H×W×3 or H×W×4; floats in
    [0, 1] are scaled to 0-255), a PIL image, or the path of an image file."""

    def __init__(self, data_or_path: Any, mode: str | None = None, caption: str | None = None):
        self.caption = caption
        self._file: Path | None = None
        self._image: Any = None
        if isinstance(data_or_path, str | Path):
            self._file = image_file(data_or_path)
            return
        try:
            from PIL import Image as PILImage
        except ImportError:
            raise ImportError(
                "Image of an array or PIL image needs pillow to encode it as PNG "
                "(pip install pillow); pass the path of an image file instead"
            ) from None
        if isinstance(data_or_path, PILImage.Image):
            self._image = data_or_path
            return
        try:
            import numpy
        except ImportError:
            raise ImportError("Image of an array needs numpy (pip install numpy)") from None
        array = numpy.asarray(data_or_path)
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
            raise ValueError(
                f"Image: an array must be H×W, H×W×3 or H×W×4, got shape {array.shape}"
            )
        if array.dtype.kind == "f":
            array = numpy.clip(array * 255 if array.max() <= 1.0 else array, 0, 255)
        self._image = PILImage.fromarray(array.astype(numpy.uint8), mode=mode)

    def store(self, run: ActiveRun, key: str, step: int) -> None:
        image = self._file if self._file is not None else self._image
        caption = None if self.caption is None else str(self.caption)
        run.log_image(key, image, step=step, caption=caption)
