"""Artifact previews on the run page: a file's name opens it in the page — an image, a log a
page at a time, JSON pretty-printed, CSV and TSV as paged tables, markdown rendered, HTML in a
sandboxed frame — and the arrow beside it still downloads it. Files are uploaded over the real
v1 API; what is checked is what the page shows."""

import io
import json
import re
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from tests.ui.conftest import make_experiment, make_run
from tests.ui.conftest import screenshot as page_screenshot

LOG_LINES = 3000
CSV_ROWS = 120


def _png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


TEXT_PAGE = 64 * 1024  # artifact-preview.js


def _log() -> str:
    """Lines with a two-byte character; one of them cut in two by the end of the first page."""
    lines = [f"line {n:05d} epoch={n // 100} loss={1 / n:.6f} é\n" for n in range(1, LOG_LINES + 1)]
    cut = "".join(lines).encode().rfind("é".encode(), 0, TEXT_PAGE)
    # Pad the first line so that an "é" starts on the page's last byte.
    padded = lines[0].replace("line", "line" + " " * (TEXT_PAGE - 1 - cut), 1)
    text = padded + "".join(lines[1:])
    assert text.encode()[TEXT_PAGE - 1 : TEXT_PAGE + 1] == "é".encode()
    return text


def _csv() -> str:
    rows = ["id,label,comment"]
    rows += [f"{i},class-{i % 3},plain" for i in range(1, CSV_ROWS + 1)]
    rows[1] = '1,class-1,"a comma, a ""quote"" and a\nline break"'
    return "\n".join(rows) + "\n"


MARKDOWN = """# Training report

Validation accuracy rose to **0.93**.

| epoch | accuracy |
|------:|---------:|
| 1     | 0.71     |
| 2     | 0.93     |

![loss curve](plots/curve.png)

```python
model.fit(x, y)
```
"""

FILES: dict[str, str | bytes] = {
    "plots/curve.png": _png(40, 20, (200, 30, 30)),
    "shapes.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="30" height="10">'
    '<rect width="30" height="10" fill="#1e90ff"/></svg>',
    "train.log": _log(),
    "config.json": json.dumps({"lr": 0.01, "layers": [64, 32], "optimizer": {"name": "adam"}}),
    "predictions.csv": _csv(),
    "confusion.tsv": "actual\tpredicted\tcount\ncat\tdog\t3\ndog\tdog\t41\n",
    "README.md": MARKDOWN,
    "report.html": "<!doctype html><html><body><h1>Profile report</h1><p>12 columns</p></body>",
    "weights.bin": bytes(range(256)) * 4,
}


@pytest.fixture(scope="module")
def run(api: httpx.Client) -> dict[str, Any]:
    experiment = make_experiment(api, "previews")
    made = make_run(api, experiment["id"], "with-artifacts", status="completed")
    for path, body in FILES.items():
        data = body.encode() if isinstance(body, str) else body
        stored = api.put(f"/runs/{made['id']}/artifacts/{path}", content=data)
        assert stored.status_code == 201, stored.text
    return made


def screenshot(page: Page, name: str) -> None:
    """The whole page from its top (opening a preview scrolls to it)."""
    page.evaluate("window.scrollTo(0, 0)")
    page_screenshot(page, name)


def open_file(page: Page, run: dict[str, Any], path: str) -> Locator:
    """Open the run page, go into `path`'s folders, click its name: the preview's body."""
    page.goto(f"/runs/{run['id']}")
    # Cards above the artifacts fill in as their requests return; a click before they have
    # can land on the wrong row (seen on a loaded machine).
    expect(page.locator("#run-page")).to_have_attribute("data-ready", "true")
    *folders, name = path.split("/")
    for folder in folders:
        page.locator("#artifacts a[data-path]", has_text=f"{folder}/").click()
    page.locator("#artifacts a[data-file]", has_text=re.compile(f"^{re.escape(name)}$")).click()
    preview = page.locator("#artifact-preview")
    expect(preview).to_be_visible()
    expect(preview.locator("[data-role=preview-name]")).to_have_text(path)
    return preview.locator("[data-role=preview-body]")


class TestImages:
    def test_a_png_shows_in_the_page(self, page: Page, run: dict[str, Any]) -> None:
        body = open_file(page, run, "plots/curve.png")
        image = body.locator("img[data-role=preview-image]")
        expect(image).to_be_visible()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth === 40", arg=image.element_handle()
        )
        screenshot(page, "artifact-preview-image")

    def test_an_svg_shows_as_an_image(self, page: Page, run: dict[str, Any]) -> None:
        body = open_file(page, run, "shapes.svg")
        image = body.locator("img[data-role=preview-image]")
        page.wait_for_function(
            "img => img.complete && img.naturalWidth === 30", arg=image.element_handle()
        )
        assert image.get_attribute("src", timeout=0).startswith("data:image/svg+xml;base64,")
        expect(body.locator("svg")).to_have_count(0)  # never inline


class TestText:
    def test_a_large_log_shows_a_page_at_a_time(self, page: Page, run: dict[str, Any]) -> None:
        body = open_file(page, run, "train.log")
        text = body.locator("[data-role=preview-text]")
        expect(text).to_contain_text("00001 epoch=0 loss=1.000000 é")
        expect(text).not_to_contain_text(f"line {LOG_LINES:05d}")
        expect(body.locator("[data-role=text-status]")).to_have_text(
            re.compile(r"^64 KB of \d+ KB shown$")
        )
        body.locator("[data-role=load-more]").click()
        expect(text).to_contain_text(f"line {LOG_LINES:05d} epoch=30")
        expect(text).not_to_contain_text("\ufffd")  # no character broken by the page's end
        expect(body.locator("[data-role=load-more]")).to_be_hidden()
        # Every line once, in order: the pages join without a gap or a repeat.
        lines = text.inner_text().splitlines()
        assert lines == [line for line in str(FILES["train.log"]).splitlines()]

    def test_json_is_pretty_printed(self, page: Page, run: dict[str, Any]) -> None:
        body = open_file(page, run, "config.json")
        shown = body.locator("[data-role=preview-json]")
        expect(shown).to_have_text(
            json.dumps({"lr": 0.01, "layers": [64, 32], "optimizer": {"name": "adam"}}, indent=2)
        )

    def test_a_binary_file_offers_a_download(self, page: Page, run: dict[str, Any]) -> None:
        body = open_file(page, run, "weights.bin")
        expect(body.locator("[data-role=preview-note]")).to_have_text(re.compile("No preview"))
        with page.expect_download() as download:
            page.locator("#artifact-preview a", has_text="Download").click()
        assert download.value.suggested_filename == "weights.bin"


class TestTables:
    def test_csv_pages_through_its_rows(self, page: Page, run: dict[str, Any]) -> None:
        body = open_file(page, run, "predictions.csv")
        headers = body.locator("thead th")
        expect(headers).to_have_text(["id", "label", "comment"])
        status = body.locator("[data-role=page-status]")
        expect(status).to_have_text(f"Rows 1–50 of {CSV_ROWS}")
        first = body.locator("tbody tr").first.locator("td")
        expect(first).to_have_text(["1", "class-1", 'a comma, a "quote" and a\nline break'])
        screenshot(page, "artifact-preview-csv")
        body.locator("[data-role=next]").click()
        expect(status).to_have_text(f"Rows 51–100 of {CSV_ROWS}")
        expect(body.locator("tbody tr").first.locator("td").first).to_have_text("51")
        body.locator("[data-role=next]").click()
        expect(status).to_have_text(f"Rows 101–{CSV_ROWS} of {CSV_ROWS}")
        expect(body.locator("[data-role=next]")).to_be_disabled()
        body.locator("[data-role=previous]").click()
        expect(status).to_have_text(f"Rows 51–100 of {CSV_ROWS}")

    def test_tsv_is_a_table_too(self, page: Page, run: dict[str, Any]) -> None:
        body = open_file(page, run, "confusion.tsv")
        expect(body.locator("thead th")).to_have_text(["actual", "predicted", "count"])
        expect(body.locator("tbody tr").nth(1).locator("td")).to_have_text(["dog", "dog", "41"])
        expect(body.locator("[data-role=page-status]")).to_have_text("Rows 1–2 of 2")


class TestDocuments:
    def test_markdown_is_rendered_with_its_relative_image(
        self, page: Page, run: dict[str, Any]
    ) -> None:
        body = open_file(page, run, "README.md")
        view = body.locator("[data-role=preview-markdown]")
        expect(view.locator("h1")).to_have_text("Training report")
        expect(view.locator("strong")).to_have_text("0.93")
        expect(view.locator("table tbody tr").nth(1).locator("td")).to_have_text(["2", "0.93"])
        expect(view.locator("pre code")).to_have_text("model.fit(x, y)\n")
        image = view.locator("img")
        page.wait_for_function(
            "img => img.complete && img.naturalWidth === 40", arg=image.element_handle()
        )
        screenshot(page, "artifact-preview-markdown")

    def test_html_shows_in_a_frame_that_runs_nothing(self, page: Page, run: dict[str, Any]) -> None:
        body = open_file(page, run, "report.html")
        frame = body.locator("iframe[data-role=preview-frame]")
        assert frame.get_attribute("sandbox", timeout=0) == ""
        inner = page.frame_locator("#artifact-preview iframe")
        expect(inner.locator("h1")).to_have_text("Profile report")
        screenshot(page, "artifact-preview-html")

    def test_close_hides_the_preview(self, page: Page, run: dict[str, Any]) -> None:
        open_file(page, run, "config.json")
        page.locator("[data-role=close-preview]").click()
        expect(page.locator("#artifact-preview")).to_be_hidden()


class TestCsvChunks:
    def test_rows_are_the_same_wherever_a_chunk_ends(self, page: Page, run: dict[str, Any]) -> None:
        """A CSV file is read 256 KB at a time: cut anywhere (inside quotes, between the
        two quotes of an escaped one, between CR and LF), it gives the same records."""
        page.goto(f"/runs/{run['id']}")
        expect(page.locator("#artifacts a[data-file]").first).to_be_visible()
        found = page.evaluate(
            """async () => {
              const { parseDelimited } = await import("/static/js/csv.js");
              const text = 'a,b,c\\r\\n1,"x, ""y""\\nz",3\\r\\n"",,"q"\\n4,5,6';
              const whole = JSON.stringify(parseDelimited(text, ",", true).records);
              const wrong = [];
              for (let cut = 0; cut <= text.length; cut += 1) {
                const first = parseDelimited(text.slice(0, cut), ",", false);
                const second = parseDelimited(first.rest + text.slice(cut), ",", true);
                const joined = JSON.stringify([...first.records, ...second.records]);
                if (joined !== whole) wrong.push(cut);
              }
              return { whole, wrong };
            }"""
        )
        assert json.loads(found["whole"]) == [
            ["a", "b", "c"],
            ["1", 'x, "y"\nz', "3"],
            ["", "", "q"],
            ["4", "5", "6"],
        ]
        assert found["wrong"] == []
