"""`run.log_image`, `run.log_table`, `run.log_histogram` against a live server: each kind logged
at two steps comes back through the artifact API as it was logged (pixels, rows, counts), the
run's `media/index.json` lists every item, and bad input raises naming the argument."""

import json
import sys
from pathlib import Path
from typing import Any

import pytest

import mltrail
import mltrail.wandb as wandb
from mltrail.config import Settings
from tests.services_available import require_module


def _index(client: mltrail.Client, run_id: str, tmp_path: Path) -> list[dict[str, Any]]:
    got = client.download_artifact(run_id, "media/index.json", tmp_path / "index.json")
    items: list[dict[str, Any]] = json.loads(got.read_text())["items"]
    return items


class TestImages:
    def test_arrays_and_pil_images_come_back_pixel_for_pixel(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        numpy: Any = require_module("numpy", "log_image takes numpy arrays")
        require_module("PIL", "log_image encodes PNG with pillow")
        from PIL import Image as pil

        rgb = numpy.zeros((4, 6, 3), dtype=numpy.uint8)
        rgb[0, 0] = [255, 0, 0]
        rgb[3, 5] = [0, 0, 255]
        gray = numpy.array([[0.0, 0.5], [1.0, 0.25]])
        rgba = pil.new("RGBA", (3, 2), (10, 20, 30, 128))
        with mltrail.start_run(experiment="sdk-media", run_context=False) as run:
            run.log_image("samples/train", rgb, step=0, caption="first")
            run.log_image("samples/train", gray, step=1)
            run.log_image("overlay", rgba, step=7)

        got = client.download_artifact(run.id, "media/images", tmp_path / "images")
        with pil.open(got / "samples/train/step-0.png") as image:
            assert (image.size, image.mode) == ((6, 4), "RGB")
            assert numpy.array_equal(numpy.asarray(image), rgb)
        with pil.open(got / "samples/train/step-1.png") as image:
            assert image.mode == "L"
            assert numpy.asarray(image).tolist() == [[0, 128], [255, 64]]
        with pil.open(got / "overlay/step-7.png") as image:
            assert image.getpixel((2, 1)) == (10, 20, 30, 128)
        assert _index(client, run.id, tmp_path) == [
            {
                "key": "overlay",
                "kind": "image",
                "step": 7,
                "path": "media/images/overlay/step-7.png",
            },
            {
                "key": "samples/train",
                "kind": "image",
                "step": 0,
                "path": "media/images/samples/train/step-0.png",
                "caption": "first",
            },
            {
                "key": "samples/train",
                "kind": "image",
                "step": 1,
                "path": "media/images/samples/train/step-1.png",
            },
        ]

    def test_a_figure_is_saved_through_its_savefig(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        require_module("PIL", "the test draws the figure's PNG with pillow")
        from PIL import Image as pil

        class Figure:
            """What log_image needs of a matplotlib figure (matplotlib is not installed)."""

            def savefig(self, file: Any, format: str) -> None:
                assert format == "png"
                pil.new("RGB", (5, 5), (0, 255, 0)).save(file, format="PNG")

        with mltrail.start_run(experiment="sdk-media", run_context=False) as run:
            run.log_image("plot", Figure(), step=2)
        got = client.download_artifact(run.id, "media/images/plot/step-2.png", tmp_path / "p.png")
        with pil.open(got) as image:
            assert image.getpixel((4, 4)) == (0, 255, 0)

    def test_bad_images_say_what_is_allowed(self, sdk: Settings) -> None:
        numpy: Any = require_module("numpy", "log_image takes numpy arrays")
        require_module("PIL", "log_image encodes PNG with pillow")
        with mltrail.start_run(experiment="sdk-media", run_context=False) as run:
            with pytest.raises(ValueError, match=r"H×W, H×W×3 or H×W×4, got shape \(2, 2, 5\)"):
                run.log_image("x", numpy.zeros((2, 2, 5), dtype=numpy.uint8))
            with pytest.raises(ValueError, match=r"must hold finite values in \[0, 1\]"):
                run.log_image("x", numpy.full((2, 2), 2.0))
            with pytest.raises(ValueError, match=r"uint8 \(0-255\) or floats.*int64"):
                run.log_image("x", numpy.zeros((2, 2), dtype=numpy.int64))
            with pytest.raises(TypeError, match=r"numpy array, a PIL image, a matplotlib"):
                run.log_image("x", {"not": "an image"})
            assert run.media() == []


class TestTables:
    def test_rows_dicts_and_a_dataframe_come_back_as_parquet_rows(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        require_module("pyarrow", "log_table writes Parquet with pyarrow")
        pandas: Any = require_module("pandas", "log_table takes pandas DataFrames")
        import pyarrow.parquet as pq

        with mltrail.start_run(experiment="sdk-media", run_context=False) as run:
            run.log_table("preds", [[1, "cat", 0.9], [2, "dog", 0.4]], columns=["id", "label", "p"])
            run.log_table("preds", [{"id": 3, "label": "owl"}, {"id": 4, "p": 0.1}], step=1)
            frame = pandas.DataFrame({"epoch": [0, 1], "acc": [0.5, 0.75]})
            run.log_table("scores", frame, step=5)

        got = client.download_artifact(run.id, "media/tables", tmp_path / "tables")
        assert pq.read_table(got / "preds/step-0.parquet").to_pylist() == [
            {"id": 1, "label": "cat", "p": 0.9},
            {"id": 2, "label": "dog", "p": 0.4},
        ]
        assert pq.read_table(got / "preds/step-1.parquet").to_pylist() == [
            {"id": 3, "label": "owl", "p": None},
            {"id": 4, "label": None, "p": 0.1},
        ]
        assert pq.read_table(got / "scores/step-5.parquet").to_pylist() == [
            {"epoch": 0, "acc": 0.5},
            {"epoch": 1, "acc": 0.75},
        ]
        assert [
            (i["key"], i["kind"], i["step"], i["path"]) for i in _index(client, run.id, tmp_path)
        ] == [
            ("preds", "table", 0, "media/tables/preds/step-0.parquet"),
            ("preds", "table", 1, "media/tables/preds/step-1.parquet"),
            ("scores", "table", 5, "media/tables/scores/step-5.parquet"),
        ]

    def test_bad_tables_say_what_is_allowed(self, sdk: Settings) -> None:
        require_module("pyarrow", "log_table writes Parquet with pyarrow")
        with mltrail.start_run(experiment="sdk-media", run_context=False) as run:
            with pytest.raises(ValueError, match=r"a list of rows needs columns="):
                run.log_table("t", [[1, 2]])
            with pytest.raises(ValueError, match=r"row 1 has 1 values but there are 2 columns"):
                run.log_table("t", [[1, 2], [3]], columns=["a", "b"])
            with pytest.raises(ValueError, match=r"column 'a' must hold values of one type"):
                run.log_table("t", [[1], ["x"]], columns=["a"])
            with pytest.raises(TypeError, match=r"data must be a list of rows"):
                run.log_table("t", 42)
            assert run.media() == []


class TestHistograms:
    def test_values_and_counts_are_stored_one_record_per_step(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        with mltrail.start_run(experiment="sdk-media", run_context=False) as run:
            run.log_histogram("weights", [0, 1, 1, 2, 3], step=0, bins=3)
            run.log_histogram("weights", step=1, counts=[4, 0, 1], edges=[-1.0, 0.0, 0.5, 2.0])

        got = client.download_artifact(run.id, "media/histograms/weights", tmp_path / "w")
        assert json.loads((got / "step-0.json").read_text()) == {
            "key": "weights",
            "step": 0,
            "edges": [0.0, 1.0, 2.0, 3.0],
            "counts": [1, 2, 2],
        }
        assert json.loads((got / "step-1.json").read_text()) == {
            "key": "weights",
            "step": 1,
            "edges": [-1.0, 0.0, 0.5, 2.0],
            "counts": [4, 0, 1],
        }
        assert [(i["kind"], i["step"]) for i in _index(client, run.id, tmp_path)] == [
            ("histogram", 0),
            ("histogram", 1),
        ]

    def test_numpy_values_are_binned_like_numpy_histogram(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        numpy: Any = require_module("numpy", "log_histogram bins numpy arrays")
        values = numpy.random.default_rng(7).normal(size=(50, 20))
        with mltrail.start_run(experiment="sdk-media", run_context=False) as run:
            run.log_histogram("acts", values, step=3, bins=16)
        got = client.download_artifact(run.id, "media/histograms/acts/step-3.json", tmp_path / "h")
        counts, edges = numpy.histogram(values, bins=16)
        stored = json.loads(got.read_text())
        assert stored["counts"] == counts.tolist()
        assert stored["edges"] == edges.tolist()
        assert sum(stored["counts"]) == 1000

    def test_bad_histograms_say_what_is_allowed(self, sdk: Settings) -> None:
        with mltrail.start_run(experiment="sdk-media", run_context=False) as run:
            with pytest.raises(ValueError, match=r"edges must have one value more than counts"):
                run.log_histogram("h", counts=[1, 2], edges=[0.0, 1.0])
            with pytest.raises(ValueError, match=r"pass values, or counts and edges, not both"):
                run.log_histogram("h", [1.0], counts=[1], edges=[0.0, 1.0])
            with pytest.raises(ValueError, match=r"bins must be 1-512, got 0"):
                run.log_histogram("h", [1.0], bins=0)
            with pytest.raises(ValueError, match=r"values must be finite"):
                run.log_histogram("h", [1.0, float("nan")])
            with pytest.raises(ValueError, match=r"counts must be >= 0"):
                run.log_histogram("h", counts=[-1], edges=[0.0, 1.0])
            assert run.media() == []


class TestKeysAndSteps:
    @pytest.mark.parametrize(
        ("key", "problem"),
        [
            ("../escape", r"without '\.\.'"),
            ("/abs", r"must not start with '/'"),
            ("a//b", r"empty segments"),
            ("", r"non-empty string"),
        ],
    )
    def test_a_bad_key_is_refused_naming_it(self, sdk: Settings, key: str, problem: str) -> None:
        with mltrail.start_run(experiment="sdk-media", run_context=False) as run:
            with pytest.raises(ValueError, match=rf"log_histogram: key.*{problem}"):
                run.log_histogram(key, [1.0])
            assert run.media() == []

    def test_a_negative_or_non_integer_step_is_refused(self, sdk: Settings) -> None:
        with mltrail.start_run(experiment="sdk-media", run_context=False) as run:
            with pytest.raises(
                ValueError, match=r"log_histogram: step must be an int >= 0, got -1"
            ):
                run.log_histogram("h", [1.0], step=-1)
            with pytest.raises(ValueError, match=r"log_table: step must be an int >= 0, got 1.5"):
                run.log_table("t", [{"a": 1}], step=1.5)  # type: ignore[arg-type]

    def test_a_resumed_run_keeps_its_earlier_items_in_the_index(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        with mltrail.start_run(experiment="sdk-media", run_context=False) as run:
            run.log_histogram("h", [1.0, 2.0], step=0)
        with mltrail.start_run(run_id=run.id) as resumed:
            resumed.log_histogram("h", [3.0], step=1)
            resumed.log_histogram("h", [4.0], step=1)  # the same step again replaces it
        assert [(i["key"], i["step"]) for i in _index(client, run.id, tmp_path)] == [
            ("h", 0),
            ("h", 1),
        ]
        got = client.download_artifact(run.id, "media/histograms/h/step-1.json", tmp_path / "h")
        stored = json.loads(got.read_text())
        assert (stored["edges"][0], stored["edges"][-1], sum(stored["counts"])) == (3.5, 4.5, 1)


class TestWithoutOptionalModules:
    """What a training machine with only `pip install mltrail` sees (the module made
    unimportable for the test, as it is when it is not installed)."""

    def test_a_table_without_pyarrow_names_the_extra(
        self, sdk: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setitem(sys.modules, "pyarrow", None)
        with mltrail.start_run(experiment="sdk-media", run_context=False) as run:
            with pytest.raises(ImportError, match=r"log_table: .*pip install 'mltrail\[media\]'"):
                run.log_table("t", [{"a": 1}])
            assert run.media() == []

    def test_a_wandb_table_without_pyarrow_raises_when_logged(
        self, sdk: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setitem(sys.modules, "pyarrow", None)
        missing = r"wandb\.Table.*pip install 'mltrail\[media\]'"
        with wandb.init(project="wandb-media"), pytest.raises(ImportError, match=missing):
            wandb.log({"t": wandb.Table(columns=["a"], data=[[1]])})

    def test_an_array_image_without_pillow_names_the_extra(
        self, sdk: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        numpy: Any = require_module("numpy", "log_image takes numpy arrays")
        monkeypatch.setitem(sys.modules, "PIL", None)
        with (
            mltrail.start_run(experiment="sdk-media", run_context=False) as run,
            pytest.raises(ImportError, match=r"log_image: .*needs pillow"),
        ):
            run.log_image("x", numpy.zeros((2, 2), dtype=numpy.uint8))

    def test_values_are_binned_without_numpy_as_numpy_bins_them(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        numpy: Any = require_module("numpy", "the expected bins are numpy's")
        values = [0.5, 1.25, 2.0, 2.0, 3.75, 9.0, -4.0, 0.0]
        counts, edges = numpy.histogram(values, bins=5)
        monkeypatch.setitem(sys.modules, "numpy", None)
        with mltrail.start_run(experiment="sdk-media", run_context=False) as run:
            run.log_histogram("plain", values, step=0, bins=5)
        got = client.download_artifact(run.id, "media/histograms/plain/step-0.json", tmp_path / "h")
        stored = json.loads(got.read_text())
        assert stored["counts"] == counts.tolist()
        assert stored["edges"] == pytest.approx(edges.tolist())
