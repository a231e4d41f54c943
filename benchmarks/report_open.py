"""How fast bsir's HTML reports open in a real browser (headless Chromium).

For each model and grid: the report of the dense and the 50 %-sparse compilation, its
size, the time from navigation until the report is drawn (median of --repeat opens in a
fresh page), the script's own drawing time, and the time to zoom into the slowest layer.
Baseline, in the same run: opening an empty page of the same browser.

    python benchmarks/report_open.py [--repeat 5] [--grids 4x4 8x8] [--models resnet50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from chromium import CHROMIUM_FLAGS, chromium_path
from machine import describe

from bsir.driver.compile import CompileOptions, compile_module
from bsir.models import build_model
from bsir.targets.aie2.report import write_report
from bsir.weights import materialize


def report_for(model: str, grid: str, path: Path) -> None:
    runs = []
    for label, sparsity in (("dense", 0.0), ("sparse 50%", 0.5)):
        built = build_model(model)
        runs.append((label, compile_module(built.module, materialize(built.specs, 0), grid,
                                           options=CompileOptions(sparsity=sparsity))))
    write_report(str(path), runs)


def open_times(browser, url: str, repeat: int, ready: str | None) -> tuple[float, float, float]:
    """Median (open ms, draw ms, zoom ms) over ``repeat`` fresh pages."""
    opened, drawn, zoomed = [], [], []
    for _ in range(repeat):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        start = time.perf_counter()
        page.goto(url)
        if ready:
            page.wait_for_selector(ready)
        opened.append((time.perf_counter() - start) * 1e3)
        if ready:
            drawn.append(page.evaluate("window.bsirRenderMs"))
            zoomed.append(page.evaluate("""() => {
                const groups = [...document.querySelectorAll('#timeline g.layer')];
                const slowest = groups.reduce((a, b) =>
                    a.getBBox().width >= b.getBBox().width ? a : b);
                const t = performance.now();
                slowest.dispatchEvent(new MouseEvent('click', {bubbles: true}));
                return performance.now() - t;
            }"""))
        page.close()
    median = statistics.median
    return median(opened), median(drawn) if drawn else 0.0, median(zoomed) if zoomed else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--models", nargs="*", default=["resnet50", "inception_v3", "vgg16"])
    parser.add_argument("--grids", nargs="*", default=["4x4", "8x8"])
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        print("no chromium on PATH")
        return 1
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        blank = Path(folder) / "blank.html"
        blank.write_text("<!DOCTYPE html><title>blank</title>")
        base, _, _ = open_times(browser, blank.as_uri(), args.repeat, None)
        print(f"machine: {describe()}; {browser.version}")
        print(f"baseline: an empty page opens in {base:.0f} ms (median of {args.repeat})\n")
        header = (f"{'model':<14}{'grid':>5}{'size KiB':>10}{'open ms':>9}{'vs empty':>10}"
                  f"{'draw ms':>9}{'zoom ms':>9}")
        print(header)
        print("-" * len(header))
        for model in args.models:
            for grid in args.grids:
                path = Path(folder) / f"{model}-{grid}.html"
                report_for(model, grid, path)
                opened, drawn, zoomed = open_times(browser, path.as_uri(), args.repeat,
                                                   "body[data-ready='1']")
                print(f"{model:<14}{grid:>5}{path.stat().st_size / 1024:>10.0f}{opened:>9.0f}"
                      f"{opened / base:>9.1f}x{drawn:>9.0f}{zoomed:>9.0f}")
        browser.close()
    print("\nopen: navigation until the report is drawn; draw: the report's script alone; "
          "zoom: a click on the slowest layer until its instructions are drawn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
