"""The media values of `mltrail.wandb`: `Table`, `Histogram` and `Image`, each written to a file
and uploaded among the run's artifacts when the step it was logged at is committed.

- `Table(columns=..., data=...)` -> `media/<key>/step_<N>.table.json`, holding
  `{"columns": [...], "data": [[...]]}`;
- `Histogram(sequence)` or `Histogram(np_histogram=(counts, bins))` ->
  `media/<key>/step_<N>.histogram.json`, holding `{"bins": [...], "counts": [...]}`;
- `Image(array, PIL image or file path, caption=...)` -> `media/<key>/step_<N>.png` (a file
  keeps its suffix), its caption beside it as `step_<N>.caption.txt`.

Encoding an array as PNG needs pillow (and numpy for arrays); without them `Image` of an array
raises at once, naming what is missing, rather than dropping the image.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["Histogram", "Image", "Media", "Table"]

MAX_HISTOGRAM_BINS = 512


class Media:
    """A value `wandb.log` stores as a file rather than a metric point."""

    #: How the file's name ends (after `step_<N>`).
    suffix = ".json"

    def write(self, path: Path) -> list[Path]:
        """Write the value to `path` (and any side files); return the files to upload."""
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

    suffix = ".table.json"

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

    def write(self, path: Path) -> list[Path]:
        body = {"columns": self.columns, "data": [[_plain(v) for v in row] for row in self.data]}
        path.write_text(json.dumps(body))
        return [path]


def _number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"Histogram: {what} must be numbers, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"Histogram: {what} must be finite, got {value!r}")
    return number


class Histogram(Media):
    """`wandb.Histogram(sequence, num_bins=64)` (counted here into equal bins), or
    `wandb.Histogram(np_histogram=(counts, bin_edges))`; logged as JSON of bins and counts."""

    suffix = ".histogram.json"

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

    def write(self, path: Path) -> list[Path]:
        path.write_text(json.dumps({"bins": self.bins, "counts": self.counts}))
        return [path]


class Image(Media):
    """`wandb.Image(data, caption=None)`: a numpy array (H×W, H×W×3 or H×W×4; floats in
    [0, 1] are scaled to 0-255), a PIL image, or the path of an image file."""

    suffix = ".png"

    def __init__(self, data_or_path: Any, mode: str | None = None, caption: str | None = None):
        self.caption = caption
        self._file: Path | None = None
        self._image: Any = None
        if isinstance(data_or_path, str | Path):
            self._file = Path(data_or_path)
            if not self._file.is_file():
                raise FileNotFoundError(f"Image: no file at {self._file}")
            self.suffix = self._file.suffix or ".png"
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

    def write(self, path: Path) -> list[Path]:
        if self._file is not None:
            shutil.copyfile(self._file, path)
        else:
            self._image.save(path, format="PNG")
        written = [path]
        if self.caption is not None:
            caption = path.with_name(path.name.removesuffix(self.suffix) + ".caption.txt")
            caption.write_text(str(self.caption))
            written.append(caption)
        return written
