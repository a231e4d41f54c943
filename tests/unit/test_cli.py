"""The bsir and bsir-opt commands: outputs, exit codes, one-line errors."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from bsir.ir import load_module
from bsir.stats import summarize
from bsir.tools import bsir_cli, bsir_opt


def run_cli(capsys, *argv):
    code = bsir_cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_lists_exact_counts(capsys):
    code, out, _ = run_cli(capsys, "models")
    assert code == 0
    assert "25,557,032" in out and "23,834,568" in out and "138,357,544" in out


def test_export_writes_ir_and_weights(tmp_path, capsys):
    out_ir = tmp_path / "net.mlir"
    code, _, err = run_cli(capsys, "export", "tiny_resnet", "-o", str(out_ir), "--seed", "7")
    assert code == 0, err
    module = load_module(str(out_ir))
    assert module.attributes["tg.weights"].data == "net.npz"
    with np.load(tmp_path / "net.npz") as weights:
        assert "layer2.0.downsample.0.weight" in weights.files
    # Same seed, same bytes.
    again = tmp_path / "again.mlir"
    run_cli(capsys, "export", "tiny_resnet", "-o", str(again), "--seed", "7")
    with np.load(tmp_path / "net.npz") as a, np.load(tmp_path / "again.npz") as b:
        assert all(np.array_equal(a[k], b[k]) for k in a.files)


def test_stats_of_ir_and_of_model_agree(tmp_path, capsys):
    ir = tmp_path / "r.mlir"
    run_cli(capsys, "export", "resnet50", "-o", str(ir), "--no-weights")
    code, out, _ = run_cli(capsys, "stats", str(ir), "--json", str(tmp_path / "s.json"))
    assert code == 0 and "25,557,032 parameters" in out
    code, out2, _ = run_cli(capsys, "stats", "resnet50")
    assert out == out2
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["params"] == 25_557_032 and len(data["layers"]) == 175
    assert summarize(load_module(str(ir))).macs == data["macs"]


@pytest.mark.parametrize("argv, message", [
    (["bogus"], "invalid choice: 'bogus'"),
    (["export"], "the following arguments are required"),
    (["export", "resnet51", "-o", "x.mlir"], "unknown model 'resnet51'"),
    (["stats", "missing.mlir"], "no such file: missing.mlir"),
    (["import", "missing.onnx", "-o", "x.mlir"], "no such file"),
    (["compile", "resnet50", "--grid", "9x9"], "1..8 x 1..8"),
    (["compile", "resnet50", "--sparsity", "1.5"], "--sparsity is a fraction in [0, 1)"),
    (["compile", "resnet50", "--block", "8"], "a block is ROWSxCOLS"),
])
def test_bad_commands_fail_with_one_line(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *argv)
    assert code != 0
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bsir_opt_reports_located_verify_error(tmp_path, capsys):
    bad = tmp_path / "bad.mlir"
    bad.write_text(
        "builtin.module {\n"
        "  tg.graph @g(%x: tensor<1x4x4x2xf32>) -> (tensor<1x4x4x2xf32>) {\n"
        "    %y = tg.maxpool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>,"
        " pad = array<i64: 0, 0, 0, 0>} : (tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32>\n"
        "    tg.output %y : tensor<1x4x4x2xf32>\n  }\n}\n")
    code = bsir_opt.main([str(bad)])
    _, err = capsys.readouterr()
    assert code == 1
    assert err.strip() == (f"{bad}:3:5: error: 'tg.maxpool2d': result type "
                           "tensor<1x4x4x2xf32> does not match the inferred tensor<1x2x2x2xf32>")


def test_console_scripts_exit_codes_without_traceback(tmp_path):
    bsir = shutil.which("bsir") or f"{sys.prefix}/bin/bsir"
    bsir_opt_exe = shutil.which("bsir-opt") or f"{sys.prefix}/bin/bsir-opt"
    ok = subprocess.run([bsir, "export", "tiny_cnn", "-o", str(tmp_path / "t.mlir")],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    piped = subprocess.run(f"{bsir_opt_exe} {tmp_path / 't.mlir'} | {bsir_opt_exe}",
                           shell=True, capture_output=True, text=True)
    assert piped.returncode == 0 and "tg.graph @tiny_cnn" in piped.stdout
    bad = subprocess.run([bsir_opt_exe, "-"], input="tg.graph @", capture_output=True,
                         text=True)
    assert bad.returncode == 1
    assert "error:" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("entry", ["bsir", "bsir_opt"])
def test_entry_points_freeze_what_the_tool_imports(entry, tmp_path):
    """The console scripts import their tool with the collector off, freeze it and
    collect the rest less often; the tool still runs and reports its exit code."""
    (tmp_path / "empty.mlir").write_text("builtin.module {}\n")
    argv = ["bsir", "models"] if entry == "bsir" else ["bsir-opt", str(tmp_path / "empty.mlir")]
    code = (f"import gc, sys; from bsir.tools.commands import {entry}, YOUNG_OBJECTS; "
            f"sys.argv = {argv!r}; rc = {entry}(); "
            "print(gc.isenabled(), gc.get_freeze_count() > 1000, "
            "gc.get_threshold()[0] == YOUNG_OBJECTS, file=sys.stderr); sys.exit(rc)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stderr.split() == ["True", "True", "True"]


def test_exported_ir_is_a_fixed_point_of_bsir_opt(tmp_path, capsys):
    ir = tmp_path / "i.mlir"
    run_cli(capsys, "export", "inception_v3", "-o", str(ir), "--no-weights")
    out = tmp_path / "o.mlir"
    assert bsir_opt.main([str(ir), "-o", str(out)]) == 0
    assert out.read_text() == ir.read_text()


def test_run_float_and_int8(tmp_path, capsys):
    ir = tmp_path / "t.mlir"
    run_cli(capsys, "export", "tiny_inception", "-o", str(ir))
    x = np.random.default_rng(1).standard_normal((1, 17, 17, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli(capsys, "run", str(ir), "--input", str(tmp_path / "x.npy"),
                             "-o", str(tmp_path / "y.npy"))
    assert code == 0, err
    assert "float32 forward pass" in out and np.load(tmp_path / "y.npy").shape == (1, 10)
    code, out, err = run_cli(capsys, "run", str(ir), "--input", str(tmp_path / "x.npy"),
                             "--int8", "-o", str(tmp_path / "q.npy"))
    assert code == 0, err
    y, q = np.load(tmp_path / "y.npy"), np.load(tmp_path / "q.npy")
    assert np.abs(y - q).max() <= 0.1 * np.abs(y).max()
    # No file is written beside the IR by an in-memory quantization.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.npy", "t.mlir", "t.npz", "x.npy",
                                                         "y.npy"]


def test_run_rejects_bad_input(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 16, 16), np.float32))
    code, _, err = run_cli(capsys, "run", "tiny_cnn", "--input", str(tmp_path / "x.npy"))
    assert code == 1
    assert "input 0 has shape [1, 3, 16, 16], the graph expects [1, 16, 16, 3] (NHWC)" in err


def test_compile_prints_layers_and_writes_json_and_trace(tmp_path, capsys):
    code, out, err = run_cli(capsys, "compile", "tiny_resnet", "--grid", "4x5", "--sparsity",
                             "0.5", "--json", str(tmp_path / "c.json"), "--trace",
                             str(tmp_path / "t.json"))
    assert code == 0, err
    assert "tiny_resnet on aie2-4x5 (4x5, shared memtiles), sparsity 0.5: total" in out
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["grid"] == [4, 5] and data["failed"] is None and data["sparsity"] == 0.5
    assert data["total_s"] == pytest.approx(sum(layer["total_s"] for layer in data["layers"]))
    for layer in data["layers"]:
        assert {"name", "op", "macs", "macs_computed", "ddr_s", "memtile_core_s", "compute_s",
                "total_s", "split"} <= layer.keys()
    assert any(layer["macs_computed"] < layer["macs"] for layer in data["layers"])
    trace = json.loads((tmp_path / "t.json").read_text())["traceEvents"]
    tracks = {e["args"]["name"] for e in trace if e.get("name") == "thread_name"}
    assert {"layers", "DDR memtile 0 ch0", "DDR memtile 4 ch1", "core 3,4"} <= tracks
    assert any(e.get("ph") == "C" and e["name"] == "memtile occupancy" for e in trace)
    bars = [e for e in trace if e.get("ph") == "X" and e["tid"] == 0]
    assert len(bars) == len(data["layers"])


def test_compile_reports_a_mapping_that_does_not_fit(tmp_path, capsys):
    hw = tmp_path / "tiny.toml"
    hw.write_text('name = "tiny"\nrows = 2\ncols = 2\n[core]\ninput_buffer = 64\n'
                  "output_buffer = 64\n")
    code, _, err = run_cli(capsys, "compile", "tiny_cnn", "--grid", str(hw), "--json",
                           str(tmp_path / "f.json"))
    assert code == 1
    assert "tiny_cnn does not fit tiny: cannot map layer 'conv2'" in err
    assert "core input buffer overflows by 8 bytes" in err
    failed = json.loads((tmp_path / "f.json").read_text())
    assert failed["total_s"] is None and "overflows by 8 bytes" in failed["failed"]


def test_compile_an_ir_file_with_separate_memtiles(tmp_path, capsys):
    ir = tmp_path / "n.mlir"
    run_cli(capsys, "export", "tiny_inception", "-o", str(ir))
    code, out, err = run_cli(capsys, "compile", str(ir), "--grid", "ryzen-ai-strix",
                             "--memtiles", "separate")
    assert code == 0, err
    assert "on ryzen-ai-strix (4x8, separate memtiles)" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.mlir", "n.npz"]


def test_table2_for_one_model(tmp_path, capsys):
    code, out, err = run_cli(capsys, "table2", "--models", "resnet50", "--jobs", "2",
                             "--json", str(tmp_path / "t2.json"))
    assert code == 0, err
    cells = json.loads((tmp_path / "t2.json").read_text())
    # every cell under both cost models, each with both scopes
    assert len(cells) == 28 and all(cell["failed"] is None for cell in cells)
    assert sorted({c["cost_model"] for c in cells}) == ["honest", "paper"]
    for cell in cells:
        assert 0 < cell["conv_s"] < cell["total_s"]
        assert cell["ratio_to_paper"] is None or \
            cell["ratio_to_paper"] == pytest.approx(cell["conv_s"] / cell["paper_s"])
        paper_rules = cell["cost_model"] == "paper"
        assert cell["hardware"] == (f"paper-{cell['grid'][0]}x{cell['grid'][1]}" if paper_rules
                                    else f"aie2-{cell['grid'][0]}x{cell['grid'][1]}")
        assert cell["paper_schedule_s"] is None or not paper_rules
    honest = [c for c in cells if c["cost_model"] == "honest"]
    dense = {c["grid"][0]: c["total_s"] for c in honest if c["sparsity"] == 0}
    sparse = {c["grid"][0]: c["total_s"] for c in honest if c["sparsity"] > 0}
    assert all(sparse[n] < dense[n] for n in dense)
    assert "14 cells, 0 failed; each program timed under both cost models" in out
    # the same program, timed twice
    for honest in (c for c in cells if c["cost_model"] == "honest"):
        paper = next(c for c in cells if c["cost_model"] == "paper"
                     and (c["grid"], c["sparsity"]) == (honest["grid"], honest["sparsity"]))
        assert paper["conv_s"] != honest["conv_s"]
    assert "rules" in out.splitlines()[1]


def test_compile_under_the_papers_estimator(tmp_path, capsys):
    code, out, err = run_cli(capsys, "compile", "tiny_resnet", "--grid", "paper-2x2",
                             "--cost-model", "paper", "--json", str(tmp_path / "p.json"))
    assert code == 0, err
    assert "the paper's estimator" in out
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["cost_model"] == "paper" and data["hardware"] == "paper-2x2"
    code, out, err = run_cli(capsys, "compile", "tiny_resnet", "--cost-model", "mine")
    assert code == 2 and "invalid choice: 'mine'" in err


@pytest.mark.parametrize("extra", [[], ["--sparsity", "0.5", "--grid", "2x3"]])
def test_print_pipeline_reproduces_the_compile_with_bsir_opt(tmp_path, capsys, extra):
    ir = tmp_path / "t.mlir"
    run_cli(capsys, "export", "tiny_resnet", "-o", str(ir))
    code, out, err = run_cli(capsys, "compile", str(ir), "--print-pipeline", "-o",
                             str(tmp_path / "a.mlir"), *extra)
    assert code == 0, err
    pipeline = out.splitlines()[0]
    assert pipeline.startswith("builtin.module(") and "tg-quantize" in pipeline
    assert bsir_opt.main([str(ir), "--pass-pipeline", pipeline, "-o",
                          str(tmp_path / "b.mlir")]) == 0
    a = (tmp_path / "a.mlir").read_text().replace('"a.', '"X.')
    b = (tmp_path / "b.mlir").read_text().replace('"b.', '"X.')
    assert a == b
    for suffix in (".npz", ".packed.npz"):
        with np.load(tmp_path / f"a{suffix}") as x, np.load(tmp_path / f"b{suffix}") as y:
            assert sorted(x.files) == sorted(y.files)
            assert all(np.array_equal(x[k], y[k]) for k in x.files)
