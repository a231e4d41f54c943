"""The HTML reports in a real browser: Debian's Chromium, headless, driven by Playwright.

`.ci/run` installs Chromium and sets BSIR_REQUIRE_BROWSER=1, so there a missing browser
fails the tests; elsewhere they are skipped without one."""

from __future__ import annotations

import io
import os
import re

import pytest
from chromium import CHROMIUM_FLAGS, chromium_path
from report_inputs import compiled, small_table2_cells

from bsir.targets.aie2.report import write_report, write_table2_report


@pytest.fixture(scope="module")
def browser():
    required = os.environ.get("BSIR_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed")
    executable = chromium_path()
    if executable is None:
        if required:
            pytest.fail("BSIR_REQUIRE_BROWSER=1 but no chromium on PATH")
        pytest.skip("no chromium on PATH")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser):
    """Open an HTML file; fail on any script error; wait until the report is drawn."""
    pages = []

    def opener(path):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=15_000)
        pages.append((page, errors))
        return page

    yield opener
    for page, errors in pages:
        page.close()
        assert errors == [], errors


@pytest.fixture(scope="module")
def resnet50_runs():
    return [("dense", compiled("resnet50", "4x4")),
            ("sparse 50%", compiled("resnet50", "4x4", 0.5))]


def pixels(png: bytes):
    from PIL import Image

    return Image.open(io.BytesIO(png)).convert("RGB")


def test_resnet50_report_draws_the_network_and_zooms_into_a_layer(resnet50_runs, open_page,
                                                                 tmp_path):
    path = tmp_path / "resnet50.html"
    write_report(str(path), resnet50_runs)
    page = open_page(path)
    sparse = resnet50_runs[1][1].timing
    # the compilation asked for (sparse) is shown first: one bar group per layer
    assert page.locator("#timeline g.layer").count() == len(sparse.layers)
    fused = sum(layer.op == "tg.conv2d+add" for layer in sparse.layers)
    assert len(sparse.layers) + fused == 72  # every layer, an addition inside its conv
    assert page.locator("#layers-section tbody tr").count() == len(sparse.layers)
    assert page.locator("#occupancy rect.occ").count() == len(sparse.layers)
    # a bar per compilation for each layer of the dense one that it has too (an addition
    # fused in one compilation and not in the other has a bar of the one only)
    dense = {layer.name for layer in resnet50_runs[0][1].timing.layers}
    assert page.locator("#comparison rect.cmp-bar").count() == len(dense) + len(
        dense & {layer.name for layer in sparse.layers})
    # every layer bar carries a tick at its lower bound; the header gives the network's
    assert page.locator("#timeline line.bound-mark").count() == len(sparse.layers)
    assert "lower bound" in page.inner_text("#summary")
    # a layer's tooltip names the stage that paces it and each stage's busy time
    page.locator("#timeline g.layer").first.hover()
    text = page.locator("#tooltip").inner_text()
    assert "paced by" in text and "COMP busy" in text and "lower bound" in text
    # the layer table gives each stage's busy time, the pacing stage and the bound
    for key in ("binds", "busy-COMP", "busy-LOADFM", "bound", "efficiency"):
        assert page.locator(f"#layers-section th[data-key='{key}']").count() == 1

    # zoom into the slowest layer that computes most of its time (its COMP bars cover
    # the screenshot below): one bar per instruction event of that layer
    slowest = max((i for i, t in enumerate(sparse.layers) if t.busy["COMP"] > t.total_s / 2),
                  key=lambda i: sparse.layers[i].total_s)
    page.locator(f"#timeline g.layer[data-index='{slowest}']").click()
    layer = sparse.layers[slowest]
    bars = page.locator("#timeline rect.bar")
    assert bars.count() == len(layer.events)
    kinds = {event.name.split()[0] for event in layer.events}
    for kind in kinds:
        assert page.locator(f"#timeline rect.bar[data-kind='{kind}']").count() == \
            sum(event.name.split()[0] == kind for event in layer.events)
    assert {"LOADFM", "COMP", "WRITEFM"} <= kinds
    assert layer.name in page.inner_text("#view-label")

    # hovering a COMP bar shows its instruction, MACs, iterations and time
    tooltip = page.locator("#tooltip")
    page.mouse.move(0, 0)  # off the bars the zoom drew under the pointer
    assert tooltip.is_hidden()
    page.locator("#timeline rect.bar[data-kind='COMP']").first.hover()
    assert tooltip.is_visible()
    text = tooltip.inner_text()
    assert text.startswith("COMP") and "MACs" in text and "iterations" in text
    page.locator("#timeline rect.bar[data-kind='LOADFM']").first.hover()
    text = tooltip.inner_text()
    assert "bytes" in text and "DMA channels" in text and "MM2S" in text

    # the screenshot shows the zoomed timeline in the instruction colours, not a blank page
    image = pixels(page.locator("#timeline").screenshot())
    colours = image.getcolors(maxcolors=1 << 16)
    assert colours is not None and len(colours) > 8
    counts = {rgb: n for n, rgb in colours}
    comp = (0xE8, 0xB1, 0x00)  # --COMP in report.css
    assert counts.get(comp, 0) > 500, "no COMP bar drawn"
    whole = pixels(page.screenshot(full_page=True))
    assert whole.size[1] > 1500 and len(whole.getcolors(maxcolors=1 << 16) or []) > 50

    # back to the network, then the dense compilation
    page.click("#back")
    assert page.locator("#timeline g.layer").count() == len(sparse.layers)
    page.click("#runs button[data-run='0']")
    assert page.locator("#timeline g.layer").count() == len(resnet50_runs[0][1].timing.layers)
    assert "dense" in page.inner_text("#summary")


def test_the_layer_table_sorts_and_zooms(resnet50_runs, open_page, tmp_path):
    path = tmp_path / "resnet50.html"
    write_report(str(path), resnet50_runs)
    page = open_page(path)
    header = page.locator("#layers-section th[data-key='total']")
    header.click()  # numbers sort descending first
    assert header.get_attribute("aria-sort") == "descending"
    layers = resnet50_runs[1][1].timing.layers
    slowest = max(layers, key=lambda layer: layer.total_s)
    first = page.locator("#layers-section tbody tr").first
    assert slowest.name in first.inner_text()
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert min(layers, key=lambda layer: layer.total_s).name in first.inner_text()
    page.locator("#layers-section th[data-key='total']").click()
    page.locator("#layers-section tbody tr").first.click()
    assert page.locator("#timeline rect.bar").count() == len(slowest.events)


def test_weights_loaded_ahead_show_in_the_table_and_under_earlier_layers(open_page,
                                                                         tmp_path):
    result = compiled("tiny_resnet", "2x2", overlap="weights")
    path = tmp_path / "overlap.html"
    write_report(str(path), [("weights ahead", result)])
    page = open_page(path)
    assert page.locator("#layers-section th[data-key='hidden_ddr']").count() == 1
    under = next(layer for layer in result.timing.layers
                 if any(event.name.endswith("(ahead)") for event in layer.events))
    name = page.locator("td", has_text=re.compile(f"^{re.escape(under.name)}$"))
    row = page.locator("#layers-section tbody tr").filter(has=name).first
    row.click()  # its timeline draws the prefetches it runs beneath
    assert page.locator("#timeline rect.bar").count() == len(under.events)


def test_table2_report_draws_ours_beside_the_papers(open_page, tmp_path):
    path = tmp_path / "table2.html"
    write_table2_report(str(path), small_table2_cells())
    page = open_page(path)
    # 4 cells x (ours, ours by the paper's estimator, paper), less the one failed paper
    # figure, drawn as a cross
    assert page.locator("rect.t2-bar").count() == 11
    assert page.locator("text.failed-mark").count() == 1
    assert page.locator("rect.t2-bar[data-series='paper-sparse']").count() == 2
    assert page.locator("rect.t2-bar[data-series='rules-sparse']").count() == 2
    page.locator("rect.t2-bar[data-series='ours-sparse']").first.hover()
    text = page.inner_text("#tooltip")
    assert "sparse speed-up" in text and "whole network" in text
    page.locator("rect.t2-bar[data-series='rules-dense']").first.hover()
    assert "bsir / paper, same estimator" in page.inner_text("#tooltip")
    assert page.locator("#cells tbody tr").count() == 2


def test_sweep_fronts_draw_every_configuration_and_the_front(open_page, tmp_path):
    from bsir.driver.sweep import parse_spec, run_sweep, write_fronts

    configs = parse_spec({"models": ["tiny_cnn"], "grids": ["1x2", "2x2", "2x3"],
                          "sparsities": [0.0, 0.5]})
    run_sweep(configs, str(tmp_path / "out"))
    written = write_fronts(str(tmp_path / "out"), configs)
    page = open_page(tmp_path / "out" / "fronts.html")
    assert written[0].endswith("fronts.html")
    cores = page.locator("[data-plot='cores'] circle.point")
    assert cores.count() == 6
    assert page.locator("[data-plot='density'] circle.point").count() == 6
    assert page.locator("[data-plot='speedup'] circle.point").count() == 3  # sparse ones
    assert page.locator("[data-plot='cores'] path.front").count() == 1
    on_front = page.locator("[data-plot='cores'] circle.on-front").count()
    assert 1 <= on_front <= 6
    page.locator("[data-plot='cores'] circle.on-front").first.hover()
    text = page.inner_text("#tooltip")
    assert "tiny_cnn on" in text and "weights kept" in text
    assert page.locator("section[data-model='tiny_cnn'] tbody tr").count() >= on_front
