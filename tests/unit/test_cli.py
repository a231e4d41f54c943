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
    (["compile", "resnet50"], "bsir compile is not available yet"),
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
