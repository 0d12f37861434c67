"""Images, tables and histograms of a run, stored among its artifacts with a small index.

```python
run.log_image("samples", pixels, step=3, caption="epoch 3")   # media/images/samples/step-3.png
run.log_table("preds", rows, step=3, columns=["id", "label"])  # media/tables/preds/step-3.parquet
run.log_histogram("weights", values, step=3, bins=32)        # media/histograms/weights/step-3.json
```

`media/index.json` lists every item (`key`, `kind`, `step`, `path`, and an image's `caption`),
so a reader finds a run's media without listing directories. A histogram file holds
`{"key", "step", "edges", "counts"}`: one file per step, drawn over steps as a heat map.

Images need pillow (numpy arrays also numpy; a matplotlib figure, or anything with a
`savefig(file, format="png")`, is saved through that method); tables need pyarrow. Both are in
the `media` extra: `pip install 'mltrail[media]'`. Without them the call raises at once,
naming what to install.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "IMAGE_FILE_SUFFIXES",
    "INDEX_PATH",
    "MAX_HISTOGRAM_BINS",
    "Histogram",
    "MediaItem",
    "MediaKind",
    "check_media_key",
    "check_step",
    "copy_image_file",
    "histogram",
    "histogram_record",
    "image_file",
    "index_body",
    "item_path",
    "parse_index",
    "require_pyarrow",
    "write_image",
    "write_table",
]

MediaKind = Literal["image", "table", "histogram"]

#: Where the index of a run's media lives among its artifacts.
INDEX_PATH = "media/index.json"
MAX_HISTOGRAM_BINS = 512
#: Image files logged by path keep their bytes and suffix.
IMAGE_FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")
_FOLDERS: dict[MediaKind, str] = {
    "image": "images",
    "table": "tables",
    "histogram": "histograms",
}
_MEDIA_EXTRA = "pip install 'mltrail[media]'"


@dataclass(frozen=True)
class MediaItem:
    """One entry of `media/index.json`."""

    key: str
    kind: MediaKind
    step: int
    path: str
    caption: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "key": self.key,
            "kind": self.kind,
            "step": self.step,
            "path": self.path,
        }
        if self.caption is not None:
            body["caption"] = self.caption
        return body

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> MediaItem:
        caption = body.get("caption")
        return cls(
            key=str(body["key"]),
            kind=body["kind"],
            step=int(body["step"]),
            path=str(body["path"]),
            caption=None if caption is None else str(caption),
        )


def check_media_key(key: object, call: str) -> str:
    """`key` back if it can name a folder under `media/`; else ValueError saying why."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"{call}: key must be a non-empty string, got {key!r}")
    if key.startswith("/"):
        raise ValueError(f"{call}: key {key!r} must not start with '/'")
    if "\\" in key or "\x00" in key:
        raise ValueError(f"{call}: key {key!r} must not contain '\\' or NUL")
    segments = key.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise ValueError(
            f"{call}: key {key!r} must be names joined by '/', without '..', '.' or empty segments"
        )
    return key


def check_step(step: object, call: str) -> int:
    """The step as an int (None is 0, as in `log`); ValueError for anything but an int >= 0."""
    if step is None:
        return 0
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        raise ValueError(f"{call}: step must be an int >= 0, got {step!r}")
    number = int(step.__index__())
    if number < 0:
        raise ValueError(f"{call}: step must be an int >= 0, got {number}")
    return number


def item_path(kind: MediaKind, key: str, step: int, suffix: str) -> str:
    """Where an item is stored among the run's artifacts."""
    return f"media/{_FOLDERS[kind]}/{key}/step-{step}{suffix}"


def _missing(module: str, call: str, what: str) -> ImportError:
    return ImportError(f"{call}: {what} needs {module} ({_MEDIA_EXTRA}, or pip install {module})")


def image_file(image: object) -> Path | None:
    """The path of an image file given by path, or None for an in-memory image."""
    if not isinstance(image, str | os.PathLike):
        return None
    path = Path(image)
    if path.suffix.lower() not in IMAGE_FILE_SUFFIXES:
        raise ValueError(
            f"log_image: image file {path} must end with one of {', '.join(IMAGE_FILE_SUFFIXES)}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"log_image: no image file at {path}")
    return path


def _array_image(array: Any) -> Any:
    """A PIL image of a numpy array: H×W, H×W×3 or H×W×4, uint8 or floats in [0, 1]."""
    import numpy
    from PIL import Image as PILImage

    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(
            f"log_image: image array must be H×W, H×W×3 or H×W×4, got shape {array.shape}"
        )
    if array.size == 0:
        raise ValueError(f"log_image: image array is empty (shape {array.shape})")
    if array.dtype.kind == "f":
        if not numpy.isfinite(array).all() or array.min() < 0.0 or array.max() > 1.0:
            raise ValueError(
                "log_image: a float image array must hold finite values in [0, 1], got "
                f"values from {array.min()} to {array.max()}"
            )
        array = numpy.rint(array * 255.0).astype(numpy.uint8)
    elif array.dtype != numpy.uint8:
        raise ValueError(
            f"log_image: image array must be uint8 (0-255) or floats in [0, 1], got {array.dtype}"
        )
    return PILImage.fromarray(numpy.ascontiguousarray(array))


# The modes PNG holds as they are; any other is converted to RGB(A) first.
_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"}


def write_image(image: object, target: Path) -> None:
    """Write `image` (numpy array, PIL image, or an object with `savefig`) to `target` as PNG."""
    savefig = getattr(image, "savefig", None)
    if callable(savefig):
        # A matplotlib figure (or anything drawing itself the same way): no import needed.
        buffer = io.BytesIO()
        savefig(buffer, format="png")
        target.write_bytes(buffer.getvalue())
        return
    try:
        from PIL import Image as PILImage
    except ImportError:
        raise _missing("pillow", "log_image", "an array or PIL image") from None
    if not isinstance(image, PILImage.Image):
        if not hasattr(image, "__array__"):
            raise TypeError(
                "log_image: image must be a numpy array, a PIL image, a matplotlib figure or "
                f"the path of an image file, got {type(image).__name__}"
            )
        try:
            import numpy
        except ImportError:
            raise _missing("numpy", "log_image", "an array") from None
        image = _array_image(numpy.asarray(image))
    assert isinstance(image, PILImage.Image)
    if image.mode not in _PNG_MODES:
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    image.save(target, format="PNG")


def copy_image_file(source: Path, target: Path) -> None:
    """An image file logged by path: its bytes as they are."""
    shutil.copyfile(source, target)


def _pyarrow(call: str) -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise _missing("pyarrow", call, "storing a table as Parquet") from None
    return pyarrow


def require_pyarrow(call: str) -> None:
    """Raise the ImportError of a missing pyarrow now, before a table is logged."""
    _pyarrow(call)


def _is_dataframe(data: object) -> bool:
    return type(data).__module__.split(".")[0] == "pandas" and hasattr(data, "columns")


def _columns_of(data: Sequence[Any], columns: Sequence[str] | None) -> dict[str, list[Any]]:
    if columns is not None:
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise ValueError(f"log_table: columns must be a list of strings, got {columns!r}")
        if len(set(columns)) != len(columns):
            raise ValueError(f"log_table: columns must be distinct, got {list(columns)}")
    if data and all(isinstance(row, Mapping) for row in data):
        names = list(columns) if columns is not None else list(dict.fromkeys(_keys(data)))
        return {name: [row.get(name) for row in data] for name in names}
    if columns is None:
        raise ValueError(
            "log_table: a list of rows needs columns=[...] naming their values "
            "(or pass a list of dicts, or a pandas DataFrame)"
        )
    cells: dict[str, list[Any]] = {name: [] for name in columns}
    for number, row in enumerate(data):
        if isinstance(row, Mapping | str | bytes) or not isinstance(row, Sequence):
            raise ValueError(
                f"log_table: row {number} must be a list of values (or every row a dict), "
                f"got {type(row).__name__}"
            )
        if len(row) != len(columns):
            raise ValueError(
                f"log_table: row {number} has {len(row)} values but there are "
                f"{len(columns)} columns ({', '.join(columns)})"
            )
        for name, value in zip(columns, row, strict=True):
            cells[name].append(value)
    return cells


def _keys(rows: Iterable[Mapping[Any, Any]]) -> Iterable[str]:
    for row in rows:
        for name in row:
            if not isinstance(name, str):
                raise ValueError(f"log_table: dict rows need string keys, got {name!r}")
            yield name


def write_table(data: object, columns: Sequence[str] | None, target: Path) -> None:
    """Write `data` (a list of rows with `columns`, a list of dicts, a pandas DataFrame or a
    pyarrow Table) to `target` as Parquet."""
    pa = _pyarrow("log_table")
    if isinstance(data, pa.Table):
        table = data
    elif _is_dataframe(data):
        table = pa.Table.from_pandas(data, preserve_index=False)
    elif isinstance(data, Sequence) and not isinstance(data, str | bytes):
        arrays = {}
        for name, values in _columns_of(data, columns).items():
            try:
                arrays[name] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
                raise ValueError(
                    f"log_table: column {name!r} must hold values of one type: {error}"
                ) from None
        table = pa.table(arrays)
    else:
        raise TypeError(
            "log_table: data must be a list of rows (with columns=), a list of dicts or a "
            f"pandas DataFrame, got {type(data).__name__}"
        )
    if columns is not None and not isinstance(data, Sequence):
        table = table.select(list(columns))
    pa.parquet.write_table(table, target)


@dataclass(frozen=True)
class Histogram:
    """Counts over bins: `edges` has one value more than `counts`."""

    edges: list[float]
    counts: list[int | float]


def finite_number(
    value: Any,
    what: str,
    *,
    caller: str = "log_histogram",
    not_a_number: type[Exception] = ValueError,
) -> float:
    """`value` as a finite float; otherwise `not_a_number` (or a ValueError for NaN and
    infinities) naming the caller and what the value is."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise not_a_number(f"{caller}: {what} must be numbers, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{caller}: {what} must be finite, got {value!r}")
    return number


def _flat(values: Any) -> list[Any]:
    if hasattr(values, "ravel"):
        return list(values.ravel().tolist())
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValueError(f"log_histogram: values must be a sequence of numbers, got {values!r}")
    return list(values)


def histogram(
    values: Any = None, *, bins: int = 64, counts: Any = None, edges: Any = None
) -> Histogram:
    """Counts and edges: `values` binned into `bins` equal bins (numpy when it is installed),
    or `counts` and `edges` as given, checked."""
    if values is not None:
        if counts is not None or edges is not None:
            raise ValueError("log_histogram: pass values, or counts and edges, not both")
        if isinstance(bins, bool) or not isinstance(bins, int):
            raise ValueError(f"log_histogram: bins must be an int, got {bins!r}")
        if not 1 <= bins <= MAX_HISTOGRAM_BINS:
            raise ValueError(f"log_histogram: bins must be 1-{MAX_HISTOGRAM_BINS}, got {bins}")
        numbers = [finite_number(v, "values") for v in _flat(values)]
        if not numbers:
            raise ValueError("log_histogram: values is empty")
        return _binned(numbers, bins)
    if counts is None or edges is None:
        raise ValueError("log_histogram: pass values, or both counts and edges")
    got_counts: list[int | float] = []
    for value in _flat(counts):
        number = finite_number(value, "counts")
        if number < 0:
            raise ValueError(f"log_histogram: counts must be >= 0, got {value!r}")
        got_counts.append(int(number) if number.is_integer() else number)
    got_edges = [finite_number(v, "edges") for v in _flat(edges)]
    if not got_counts or len(got_edges) != len(got_counts) + 1:
        raise ValueError(
            "log_histogram: edges must have one value more than counts (and counts at least "
            f"one), got {len(got_edges)} edges for {len(got_counts)} counts"
        )
    if any(b <= a for a, b in zip(got_edges, got_edges[1:], strict=False)):
        raise ValueError("log_histogram: edges must be increasing")
    return Histogram(got_edges, got_counts)


def _binned(values: list[float], bins: int) -> Histogram:
    try:
        import numpy
    except ImportError:
        return _binned_in_python(values, bins)
    found, found_edges = numpy.histogram(values, bins=bins)
    return Histogram([float(e) for e in found_edges], [int(c) for c in found])


def _binned_in_python(values: list[float], bins: int) -> Histogram:
    # As numpy.histogram: equal bins over [min, max] (widened by 0.5 both ways when they
    # are equal), each bin half-open but the last, which holds the maximum.
    low, high = min(values), max(values)
    if low == high:
        low, high = low - 0.5, high + 0.5
    width = (high - low) / bins
    edges = [low + i * width for i in range(bins)] + [high]
    counts: list[int | float] = [0] * bins
    for value in values:
        counts[min(int((value - low) / width), bins - 1)] += 1
    return Histogram(edges, counts)


def histogram_record(key: str, step: int, found: Histogram) -> bytes:
    """The JSON file of one histogram at one step."""
    body = {"key": key, "step": step, "edges": found.edges, "counts": found.counts}
    return json.dumps(body).encode()


def index_body(items: Iterable[MediaItem]) -> bytes:
    """`media/index.json`: every item, ordered by kind, key and step."""
    ordered = sorted(items, key=lambda item: (item.kind, item.key, item.step))
    return json.dumps({"items": [item.to_json() for item in ordered]}, indent=1).encode()


def parse_index(text: str) -> list[MediaItem]:
    """The items of an index written by `index_body`."""
    return [MediaItem.from_json(item) for item in json.loads(text).get("items", [])]
