"""The HTML reports: self-contained, carrying every layer and instruction of the
compilations they show (their drawing is tested in a real browser in tests/browser)."""

from __future__ import annotations

import json
import re

import pytest
from report_inputs import compiled, small_table2_cells

from bsir.targets.aie2.report import report_html, run_data, table2_html
from bsir.tools.bsir_cli import main


def embedded_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="bsir-data">(.*?)</script>', html,
                      re.S)
    assert match, "no data block"
    return json.loads(match.group(1))


def test_the_report_needs_nothing_outside_itself():
    html = report_html([("dense", compiled("tiny_cnn"))])
    assert not re.search(r"<(link|img|iframe)\b", html)
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert "@import" not in html and "url(http" not in html
    # the only absolute URL is the SVG namespace, an identifier that is never fetched
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {"http://www.w3.org/2000/svg"}


def test_every_layer_and_instruction_is_in_the_report():
    dense, sparse = compiled("tiny_resnet"), compiled("tiny_resnet", sparsity=0.5)
    data = embedded_data(report_html([("dense", dense), ("sparse", sparse)]))
    assert [run["label"] for run in data["runs"]] == ["dense", "sparse"]
    for run, result in zip(data["runs"], (dense, sparse), strict=True):
        layers = result.timing.layers
        assert [layer["name"] for layer in run["layers"]] == [layer.name for layer in layers]
        assert [len(layer["events"]) for layer in run["layers"]] == \
            [len(layer.events) for layer in layers]
        assert run["total"] == pytest.approx(result.timing.total_s * 1e6, abs=1e-3)
        for drawn, layer in zip(run["layers"], layers, strict=True):
            assert drawn["total"] == pytest.approx(layer.total_s * 1e6, abs=1e-3)
            for event, source in zip(drawn["events"], layer.events, strict=True):
                assert run["tracks"][event[0]] == source.track
                assert run["names"][event[1]] == source.name
                assert event[3] == pytest.approx(source.duration * 1e6, abs=1e-3)
    computed = sum(layer["macs_computed"] for layer in data["runs"][1]["layers"])
    assert computed < sum(layer["macs_computed"] for layer in data["runs"][0]["layers"])


def test_every_layer_says_what_paces_it_and_how_busy_each_stage_is():
    result = compiled("tiny_resnet")
    run = run_data(result, "dense")
    assert 0 < run["bound"] <= run["total"]
    for drawn, layer in zip(run["layers"], result.timing.layers, strict=True):
        assert drawn["binds"] in ("DDR", "LOADWDM", "LOADFM", "COMP", "WRITEFM")
        assert 0 < drawn["bound"] <= drawn["total"] * (1 + 1e-9)
        # a layer paced by its loads still shows the compute it does: the busiest core
        # computes at least the average
        average = layer.macs_computed / (result.array.macs_per_second * result.array.cores)
        assert drawn["busy"]["COMP"] >= average * 1e6 * (1 - 1e-6)


def test_every_instruction_bar_says_what_it_moves_or_computes():
    run = run_data(compiled("tiny_cnn"), "dense")
    for layer in run["layers"]:
        for _, name, _, _, nbytes, macs, iterations, repeats, channel in layer["events"]:
            kind = run["names"][name].split()[0]
            assert (macs > 0) if kind == "COMP" else (nbytes > 0), (layer["name"], kind)
            assert iterations >= 1 and repeats >= 1
            # every transfer names the DMA channels it uses; a computation none
            if kind == "COMP":
                assert channel == -1
            else:
                assert " -> " in run["channels"][channel], (layer["name"], kind)


def test_a_compilation_that_failed_has_no_report():
    failed = compiled("tiny_cnn")
    failed.timing, failed.failed = None, "memtile overflow by 1 byte"
    with pytest.raises(ValueError, match="did not compile"):
        run_data(failed, "dense")


def test_data_cannot_close_the_script_element():
    result = compiled("tiny_cnn")
    result.model = "</script><script>alert(1)</script>"
    html = report_html([("dense", result)])
    assert html.count("</script>") == 3  # the data block and the two scripts


def test_compile_report_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "r.html"
    assert main(["compile", "tiny_cnn", "--grid", "2x2", "--sparsity", "0.5",
                 "--report", str(path)]) == 0
    assert f"report: {path}" in capsys.readouterr().out
    labels = [run["label"] for run in embedded_data(path.read_text())["runs"]]
    assert labels == ["dense", "sparse 50% (8x8 blocks)"]
    assert main(["compile", "tiny_cnn", "--grid", "2x2", "--sparsity", "0.5",
                 "--no-dense-baseline", "--report", str(path)]) == 0
    assert len(embedded_data(path.read_text())["runs"]) == 1


def test_table2_report_holds_every_cell():
    cells = small_table2_cells()
    data = embedded_data(table2_html(cells))
    assert len(data["cells"]) == 8
    assert [c["paper_s"] for c in data["cells"]] == [c["paper_s"] for c in cells]
    assert all(c["total_s"] > c["conv_s"] > 0 for c in data["cells"])
    assert [c["cost_model"] for c in data["cells"]] == ["honest", "paper"] * 4
