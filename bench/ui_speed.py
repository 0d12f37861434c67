"""How fast the web UI is in a real browser: headless Chromium (Debian's `chromium`, driven by
Playwright for Python), against our server on the embedded SQLite database.

1. The runs table of an experiment with 1,000 runs (each with 6 params and 5 metrics): time
   from navigation until the rows are on screen, and until the page has answered a click
   (a run selected), at 100 rows per page (the default) and with all 1,000 on one page.
2. A chart of a 1,000,000-point metric: time from navigation until the chart is drawn, and
   from the end of a drag (zoom) until the re-fetched range is drawn.
3. The experiment workspace over 500 runs with 10 metrics of 10,000 points each: time from
   navigation (the page's URL keeps the workspace open) until every chart holds every run's
   line, with the UI's files cached and not (target: 1.5 s warm).

Every visit starts from an empty cache (a fresh browser context) in a tab already on the
server (its /health), and is timed from the navigation's start. The API calls behind each
figure are timed alone too, to show where the time goes.

    .venv/bin/python bench/ui_speed.py            # 1,000 runs, 1,000,000 points, 5 visits each
    .venv/bin/python bench/ui_speed.py --quick    # 100 runs, 100,000 points, 2 visits each;
                                                  # a workspace of 50 runs x 10 x 1,000 points
    .venv/bin/python bench/ui_speed.py --workspace-only   # the workspace figure alone

Prints a table and writes bench/results/ui-speed-<time>.{json,md} (and ui-speed-latest.*).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from _harness import OUR_VENV, Server, free_port, log, phase, write_results
from _ui_workspace import (
    AFTER_PAINT,
    BATCH,
    TARGET_WARM_SECONDS,
    check,
    seed_workspace,
    time_workspace_api,
    visit_workspace,
)
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1440, "height": 900}
TARGET_SECONDS = 1.0


def seed_runs(api: httpx.Client, runs: int) -> str:
    experiment = check(
        api.post("/experiments", json={"name": f"ui-bench-{time.time_ns()}", "owner": "bench"})
    )
    for index in range(runs):
        run = check(
            api.post(
                f"/experiments/{experiment['id']}/runs",
                json={
                    "name": f"trial-{index:04d}",
                    "user": "bench",
                    "params": {
                        "lr": f"{10 ** -(1 + index % 5):g}",
                        "batch_size": str(32 * (1 + index % 4)),
                        "optimizer": ("adam", "sgd", "adamw")[index % 3],
                        "dropout": f"{(index % 7) / 10:g}",
                        "layers": str(2 + index % 6),
                        "seed": str(index),
                    },
                    "tags": {"sweep": "grid"},
                },
            )
        )
        points = [
            {"key": key, "value": math.exp(-step / 10) * scale + index / runs, "step": step}
            for key, scale in (
                ("loss", 2),
                ("val_loss", 2.2),
                ("accuracy", -0.5),
                ("lr", 0.01),
                ("grad_norm", 5),
            )
            for step in range(20)
        ]
        check(api.post(f"/runs/{run['id']}/batch", json={"metrics": points}))
        if index % 2 == 0:
            check(api.patch(f"/runs/{run['id']}", json={"status": "completed"}))
    return str(experiment["id"])


def seed_long_metric(api: httpx.Client, experiment_id: str, points: int) -> str:
    run = check(api.post(f"/experiments/{experiment_id}/runs", json={"name": "long-metric"}))
    for start in range(0, points, BATCH):
        batch = [
            {
                "key": "loss",
                "value": 1 / (1 + step / 1e4) + 0.05 * math.sin(step / 50),
                "step": step,
            }
            for step in range(start, min(start + BATCH, points))
        ]
        check(api.post(f"/runs/{run['id']}/batch", json={"metrics": batch}))
    check(api.patch(f"/runs/{run['id']}", json={"status": "completed"}))
    return str(run["id"])


def open_tab(browser: Browser, base: str) -> Page:
    """A tab in a fresh context (empty cache) that is already on the server's origin (on
    /health), as a browser is when the tracker is open in it: the figures then leave out
    starting the browser's process for a new site, and include every UI file's download."""
    context = browser.new_context(viewport=VIEWPORT, base_url=base)
    page = context.new_page()
    page.goto("/health")
    return page


def visit_runs_table(page: Page, experiment_id: str, size: int, rows: int) -> dict[str, float]:
    """`rows`: how many rows the page holds (the page size, or fewer runs). Pages arrive 100
    runs at a time; pages over 150 rows draw only the rows in view."""
    started = time.perf_counter()
    page.goto(f"/experiments/{experiment_id}?size={size}", wait_until="commit")
    page.wait_for_selector("#runs tbody tr[data-id]")
    page.evaluate(AFTER_PAINT)
    first_rows = time.perf_counter() - started
    page.locator("#runs tbody tr[data-id]:first-of-type input[type=checkbox]").first.click()
    page.wait_for_function("document.getElementById('selection-info').textContent === '1 selected'")
    interactive = time.perf_counter() - started
    page.wait_for_function(
        f"""() => {{
          const label = document.querySelector("#pager [data-role=label]").textContent;
          return label.startsWith("Runs 1–{rows:,}") && !label.includes("loading");
        }}""",
        polling="raf",
    )
    page.evaluate(AFTER_PAINT)
    all_rows = time.perf_counter() - started
    return {"first_rows_on_screen": first_rows, "interactive": interactive, "all_rows": all_rows}


def cold_then_warm(
    browser: Browser, base: str, visit: Callable[[Page], dict[str, float]]
) -> dict[str, float]:
    """The same visit twice in one tab: with an empty cache, then with the UI's files cached
    (as on every visit after the first: they are cached for a year under a content digest)."""
    page = open_tab(browser, base)
    cold = visit(page)
    warm = visit(page)
    page.context.close()
    return {f"{name}, cold cache": value for name, value in cold.items()} | {
        f"{name}, warm cache": value for name, value in warm.items()
    }


def drag_zoom(page: Page) -> None:
    box = page.locator(".chart[data-metric='loss'] .u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.4, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=3)
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=3)
    page.mouse.up()


def visit_chart(page: Page, run_id: str, points: int) -> dict[str, float]:
    total = f"{points:,} pts"
    started = time.perf_counter()
    page.goto(f"/runs/{run_id}", wait_until="commit")
    page.wait_for_function(
        f"""() => {{
          const chart = document.querySelector(".chart[data-metric='loss']");
          return chart && chart.querySelector(".sampled").textContent.startsWith({total!r})
            && chart.querySelector("canvas");
        }}""",
        polling="raf",
    )
    page.evaluate(AFTER_PAINT)
    drawn = time.perf_counter() - started
    with page.expect_response(lambda r: "/metrics/downsampled" in r.url and "start_step" in r.url):
        zoom_started = time.perf_counter()
        drag_zoom(page)
    page.locator(".chart[data-metric='loss'] .reset-zoom").wait_for(state="visible")
    page.wait_for_function(
        "!document.querySelector(\".chart[data-metric='loss'] .chart-plot.loading\")", polling="raf"
    )
    page.evaluate(AFTER_PAINT)
    zoomed = time.perf_counter() - zoom_started
    return {"chart_drawn": drawn, "zoom_redrawn": zoomed}


def time_api(
    api: httpx.Client, experiment_id: str, run_id: str, points: int, repeat: int
) -> dict[str, dict[str, float]]:
    calls = {
        "search 100 runs": lambda: api.post(
            "/runs/search", json={"experiment_ids": [experiment_id], "max_results": 100}
        ),
        "search 1,000 runs": lambda: api.post(
            "/runs/search", json={"experiment_ids": [experiment_id], "max_results": 1000}
        ),
        f"downsample {points:,} points to 1,000": lambda: api.get(
            f"/runs/{run_id}/metrics/downsampled", params={"key": "loss", "points": 1000}
        ),
        "downsample a 10% range to 1,000": lambda: api.get(
            f"/runs/{run_id}/metrics/downsampled",
            params={
                "key": "loss",
                "points": 1000,
                "start_step": points * 4 // 10,
                "end_step": points // 2,
            },
        ),
    }
    result = {}
    for name, call in calls.items():
        seconds = []
        for _ in range(repeat):
            started = time.perf_counter()
            check(call())
            seconds.append(time.perf_counter() - started)
        result[name] = summarize(seconds)
    return result


def summarize(seconds: list[float]) -> dict[str, float]:
    return {"median": statistics.median(seconds), "max": max(seconds), "n": len(seconds)}


def measure(visits: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {name: summarize([visit[name] for visit in visits]) for name in visits[0]}


def milliseconds(stats: dict[str, float]) -> str:
    return f"{stats['median'] * 1000:.0f} ms | {stats['max'] * 1000:.0f} ms"


def report(figures: dict[str, Any], args: argparse.Namespace) -> str:
    load = ", ".join(f"{value:.1f}" for value in figures["load_average"])
    lines = [
        f"# UI speed: {args.runs:,} runs, a {args.points:,}-point metric, a workspace of "
        f"{args.ws_runs:,} runs x {args.ws_metrics} metrics x {args.ws_points:,} points; "
        f"{args.repeat} cold visits each",
        "",
        f"Load average at the start (1, 5, 15 min) on {os.cpu_count()} cores: {load}",
        "",
        "| what | median | worst | target |",
        "|---|---:|---:|---:|",
    ]
    for page_name, measures in figures["browser"].items():
        for name, stats in measures.items():
            target = (
                f"< {TARGET_SECONDS:.0f} s"
                if name.startswith(("interactive", "chart_drawn"))
                else f"< {TARGET_WARM_SECONDS} s"
                if name == "workspace_drawn, warm cache"
                else ""
            )
            label = f"{page_name}: {name.replace('_', ' ')}"
            lines.append(f"| {label} | {milliseconds(stats)} | {target} |")
    lines += ["", "API calls alone (from Python, same machine):", ""]
    lines += ["| call | median | worst |", "|---|---:|---:|"]
    for name, stats in figures["api"].items():
        lines.append(f"| {name} | {milliseconds(stats)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ws-runs", type=int, default=500, help="runs in the workspace figure")
    parser.add_argument("--ws-metrics", type=int, default=10, help="metrics per run there")
    parser.add_argument("--ws-points", type=int, default=10_000, help="points per metric there")
    parser.add_argument("--workspace-only", action="store_true", help="only the workspace figure")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="100 runs, 100,000 points, a workspace of 50 runs x 10 x 1,000 points, 2 visits",
    )
    args = parser.parse_args()
    if args.quick:
        args.runs, args.points, args.repeat = 100, 100_000, 2
        args.ws_runs, args.ws_metrics, args.ws_points = 50, 10, 1000

    load_average = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="ui-bench-"))
    port = free_port()
    server = Server(
        "ours",
        [
            str(OUR_VENV / "bin" / "uvicorn"),
            "mltrail_server.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'tracker.db'}",
            "REDIS_URL": "",
            "DATA_DIR": str(workdir),
            "LOG_LEVEL": "WARNING",
        },
        port,
        workdir / "server.log",
    )
    server.start()
    try:
        server.wait_ready()
        with httpx.Client(base_url=f"{server.base_url}/api/v1", timeout=120) as api:
            api_figures = {}
            if not args.workspace_only:
                with phase(f"seed {args.runs:,} runs"):
                    experiment_id = seed_runs(api, args.runs)
                with phase(f"seed a {args.points:,}-point metric"):
                    run_id = seed_long_metric(api, experiment_id, args.points)
                api_figures = time_api(api, experiment_id, run_id, args.points, args.repeat)
            with phase(
                f"seed a workspace of {args.ws_runs:,} runs x {args.ws_metrics} metrics x "
                f"{args.ws_points:,} points"
            ):
                workspace_id = seed_workspace(api, args.ws_runs, args.ws_metrics, args.ws_points)
            for name, seconds in time_workspace_api(
                api, workspace_id, args.ws_runs, args.repeat
            ).items():
                api_figures[name] = summarize(seconds)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            total = args.runs + 1  # and the long-metric run
            browser_figures = {}
            with phase("workspace"):
                browser_figures[
                    f"workspace of {args.ws_runs:,} runs x {args.ws_metrics} metrics"
                ] = measure(
                    [
                        cold_then_warm(
                            browser,
                            server.base_url,
                            lambda page: visit_workspace(
                                page, workspace_id, args.ws_runs, args.ws_metrics
                            ),
                        )
                        for _ in range(args.repeat)
                    ]
                )
            for size in () if args.workspace_only else (100, 1000):
                rows = min(size, total)

                def runs_table(page: Page, size: int = size, rows: int = rows) -> dict[str, float]:
                    return visit_runs_table(page, experiment_id, size, rows)

                name = f"runs table, {size} rows/page"
                with phase(name):
                    browser_figures[name] = measure(
                        [
                            cold_then_warm(browser, server.base_url, runs_table)
                            for _ in range(args.repeat)
                        ]
                    )
            if not args.workspace_only:
                with phase("chart"):
                    browser_figures[f"chart of {args.points:,} points"] = measure(
                        [
                            cold_then_warm(
                                browser,
                                server.base_url,
                                lambda page: visit_chart(page, run_id, args.points),
                            )
                            for _ in range(args.repeat)
                        ]
                    )
            browser.close()
    finally:
        server.stop()
    figures = {
        "load_average": load_average,
        "browser": browser_figures,
        "api": api_figures,
        "runs": args.runs,
        "points": args.points,
        "workspace": {"runs": args.ws_runs, "metrics": args.ws_metrics, "points": args.ws_points},
    }
    markdown = report(figures, args)
    print(markdown)
    json_path, _ = write_results("ui-speed-quick" if args.quick else "ui-speed", figures, markdown)
    log(f"results: {json_path}")


if __name__ == "__main__":
    main()
