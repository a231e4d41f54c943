"""One clean error path: the same bad input gives the same one-line error whichever
command meets it, exit 1 (bad input) or 2 (bad command line), never 3 (a bug)."""

import time

import numpy as np
import pytest

from bsir.ir import parse_module
from bsir.tools import bsir_cli, bsir_opt


def run(tool, capsys, *argv):
    code = tool.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code: int, err: str, expected: int = 1) -> None:
    assert code == expected, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "internal error" not in err


@pytest.fixture
def tiny(tmp_path, capsys):
    code, _, err = run(bsir_cli, capsys, "export", "tiny_resnet", "-o", tmp_path / "t.mlir")
    assert code == 0, err
    return tmp_path / "t.mlir"


def with_weights(ir, name: str, change) -> str:
    """A copy of the IR whose weights file is the original's, changed by ``change``."""
    arrays = dict(np.load(ir.parent / "t.npz"))
    change(arrays)
    np.savez(ir.parent / f"{name}.npz", **arrays)
    text = ir.read_text().replace('tg.weights = "t.npz"', f'tg.weights = "{name}.npz"')
    path = ir.parent / f"{name}.mlir"
    path.write_text(text)
    return path


def first_key(arrays):
    return next(k for k in arrays if k.endswith("conv1.weight"))


def put_nan(arrays):
    key = first_key(arrays)
    arrays[key] = arrays[key].copy()
    arrays[key].flat[3] = np.inf


def to_complex(arrays):
    key = first_key(arrays)
    arrays[key] = arrays[key].astype(np.complex64)


def to_float64(arrays):
    key = first_key(arrays)
    arrays[key] = arrays[key].astype(np.float64)


def to_objects(arrays):
    key = first_key(arrays)
    arrays[key] = np.array([None] * arrays[key].size, dtype=object)


def negative_variance(arrays):
    key = next(k for k in arrays if k.endswith("running_var"))
    arrays[key] = -np.abs(arrays[key])


COMMANDS = [["compile"], ["run"], ["run", "--int8"], ["compile", "--verify"]]


@pytest.mark.parametrize("change, message", [
    (put_nan, "holds NaN or Inf"),
    (to_complex, "is complex64"),
    (to_float64, "is float64"),
    (to_objects, "not a plain numeric array"),
])
@pytest.mark.parametrize("command", COMMANDS)
def test_bad_weights_are_refused_at_load(tiny, capsys, change, message, command):
    path = with_weights(tiny, change.__name__, change)
    code, _, err = run(bsir_cli, capsys, *command, path)
    assert_one_line(code, err)
    assert message in err


def test_negative_variance_is_one_error_everywhere(tiny, capsys):
    path = with_weights(tiny, "negvar", negative_variance)
    errors = set()
    for command in (["compile"], ["run", "--int8"]):
        code, _, err = run(bsir_cli, capsys, *command, path)
        assert_one_line(code, err)
        errors.add(err.split("error: ", 1)[1])
    code, _, err = run(bsir_opt, capsys, path, "-p", "tg-fold-batchnorm")
    assert_one_line(code, err)
    errors.add(err.split("error: ", 1)[1])
    assert len(errors) == 1 and "variance" in errors.pop()


def test_not_an_npz_weights_file(tiny, capsys):
    (tiny.parent / "text.npz").write_text("hello")
    path = tiny.parent / "text.mlir"
    path.write_text(tiny.read_text().replace('"t.npz"', '"text.npz"'))
    for command in COMMANDS:
        code, _, err = run(bsir_cli, capsys, *command, path)
        assert_one_line(code, err)
        assert "is not an .npz archive" in err


@pytest.mark.parametrize("array, message", [
    (np.full((1, 16, 16, 3), np.nan, np.float32), "holds NaN or Inf"),
    (np.zeros((1, 3, 16, 16), np.float32), "the graph expects [1, 16, 16, 3]"),
    (np.zeros((1, 16, 16, 3), np.complex64), "holds complex64 values"),
    (np.array(["a"]), "holds <U1 values"),
])
@pytest.mark.parametrize("command", [["compile"], ["run"], ["run", "--int8"]])
def test_bad_inputs(tiny, capsys, array, message, command):
    np.save(tiny.parent / "x.npy", array)
    code, _, err = run(bsir_cli, capsys, *command, tiny, "--input", tiny.parent / "x.npy")
    assert_one_line(code, err)
    assert message in err


def test_input_dtypes_are_converted_to_float32(tiny, capsys):
    np.save(tiny.parent / "x.npy", np.ones((1, 16, 16, 3)))  # float64
    code, _out, err = run(bsir_cli, capsys, "run", tiny, "--input", tiny.parent / "x.npy",
                         "-o", tiny.parent / "y.npy")
    assert code == 0, err
    assert np.load(tiny.parent / "y.npy").dtype == np.float32


@pytest.mark.parametrize("command", [["compile"], ["run"]])
def test_npz_or_garbage_as_input(tiny, capsys, command):
    np.savez(tiny.parent / "x.npz", x=np.zeros((1, 16, 16, 3), np.float32))
    code, _, err = run(bsir_cli, capsys, *command, tiny, "--input", tiny.parent / "x.npz")
    assert_one_line(code, err)
    assert "is an .npz archive" in err
    (tiny.parent / "g.npy").write_bytes(b"\x00" * 64)
    code, _, err = run(bsir_cli, capsys, *command, tiny, "--input", tiny.parent / "g.npy")
    assert_one_line(code, err)
    assert "is not an .npy file" in err


@pytest.mark.parametrize("toml, message", [
    ("[bandwidth]\nddr_channel = nan\n", "bandwidth.ddr_channel must be a positive finite"),
    ("[bandwidth]\nlink = inf\n", "bandwidth.link must be a positive finite"),
    ("[bandwidth]\nddr_channels_per_memtile = 0\n", "ddr_channels_per_memtile must be a"),
    ("[core]\nlocks = 0\n", "core.locks must be a positive integer"),
    ("[core]\nlocks = 2\n", "a core needs 3 locks"),
    ("[compute]\nclock_ghz = -1.0\n", "compute.clock_ghz must be a positive finite"),
])
def test_bad_hardware_files(tiny, capsys, toml, message):
    hardware = tiny.parent / "hw.toml"
    hardware.write_text("rows = 2\ncols = 2\n" + toml)
    code, _, err = run(bsir_cli, capsys, "compile", tiny, "--grid", hardware)
    assert_one_line(code, err)
    assert message in err
    code, _, err = run(bsir_opt, capsys, tiny, "-p",
                       f"convert-tg-to-tiling{{hardware={hardware}}},tiling-color-memtiles,"
                       "convert-tiling-to-aie2,aie2-form-lock-chains")
    assert_one_line(code, err)
    assert message in err


def test_bsir_opt_reads_files_of_any_name(tiny, capsys, tmp_path):
    code, _, err = run(bsir_opt, capsys, "/dev/null")
    assert_one_line(code, err)
    assert "the input is empty" in err
    plain = tmp_path / "no_extension"
    plain.write_text(tiny.read_text())
    code, out, err = run(bsir_opt, capsys, plain)
    assert code == 0 and "tg.graph @tiny_resnet" in out


def test_usage_errors_exit_2(capsys):
    for argv in (["table2", "--models", "tiny_cnn"], ["compile", "tiny_cnn", "--bogus"]):
        code, _, err = run(bsir_cli, capsys, *argv)
        assert_one_line(code, err, expected=2)
    code, _, err = run(bsir_opt, capsys, "--no-such-flag")
    assert_one_line(code, err, expected=2)


def test_negative_grid_is_a_grid_error(capsys):
    code, _, err = run(bsir_cli, capsys, "compile", "tiny_cnn", "--grid", "-1x2")
    assert_one_line(code, err)
    assert "a grid is ROWSxCOLS" in err and "'-1x2'" in err


def test_unbalanced_quote_on_a_long_line_fails_fast(tmp_path, capsys):
    """xDSL's string regex backtracks exponentially on an unclosed quote; bsir's lexer
    does not."""
    text = 'builtin.module attributes {x = "' + "a" * 20000 + "} {}\n"
    start = time.perf_counter()
    with pytest.raises(Exception) as info:
        parse_module(text, "long.mlir")
    assert time.perf_counter() - start < 1.0
    assert str(info.value).startswith("long.mlir:1:")
    assert "string literal not closed" in str(info.value)
    # The same through the command, on a ResNet50-sized IR with one quote removed.
    code, _, _ = run(bsir_cli, capsys, "export", "resnet50", "-o", tmp_path / "r.mlir",
                     "--no-weights")
    lines = (tmp_path / "r.mlir").read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if "running_mean" in line)
    lines[index] = lines[index].replace('running_mean"', "running_mean", 1)
    (tmp_path / "h.mlir").write_text("\n".join(lines))
    start = time.perf_counter()
    code, _, err = run(bsir_opt, capsys, tmp_path / "h.mlir")
    assert time.perf_counter() - start < 5.0
    assert_one_line(code, err)
    assert err.startswith(f"{tmp_path / 'h.mlir'}:{index + 1}:")


def test_valid_strings_still_lex(capsys, tmp_path):
    text = ('builtin.module attributes {a = "tab\\there", b = "q\\"uote", c = "\\41\\42",'
            ' d = ""} {}\n')
    module = parse_module(text)
    assert module.attributes["b"].data == 'q"uote'
    assert module.attributes["c"].data == "AB"
    assert module.attributes["d"].data == ""


@pytest.mark.parametrize("spec", [
    "tg-sparsify{ratio=0 report=false}",
    "tg-sparsify{ratio=1 report=false}",
    "convert-tg-to-tiling{hardware={hw}}",
    "tg-fold-batchnorm,tg-quantize{calibration={x}}",
])
def test_readme_pipelines_run_as_written(tiny, capsys, monkeypatch, spec):
    monkeypatch.chdir(tiny.parent)  # paths in pass options: relative to the working folder
    hardware = tiny.parent / "my.toml"
    hardware.write_text("rows = 2\ncols = 3\n")
    np.save(tiny.parent / "x.npy", np.zeros((1, 16, 16, 3), np.float32))
    spec = spec.replace("{hw}", "my.toml").replace("{x}", "x.npy")
    code, _out, err = run(bsir_opt, capsys, tiny, "-p", spec, "-o", tiny.parent / "o.mlir")
    assert code == 0, err


def test_list_passes_shows_bsirs_passes_with_options(capsys):
    code, out, _ = run(bsir_opt, capsys, "--list-passes")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("aie2-form-lock-chains")
    assert "    ratio: float = 0.5" in lines
    assert "canonicalize" not in out and "more from xDSL" in out
    code, every, _ = run(bsir_opt, capsys, "--list-passes", "--all")
    assert "  canonicalize" in every.splitlines()
    with pytest.raises(SystemExit):
        bsir_opt.main(["--help"])
    help_text = capsys.readouterr().out
    assert "canonicalize" not in help_text and "--list-passes" in help_text


def test_compile_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        bsir_cli.main(["compile", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in ("(default: 4x4)", "(default: 0.0)", "(default: 8x8)", "(default: l2)",
                    "(default: shared)"):
        assert default in text
    assert "DESIGN.md" not in text


def test_export_and_import_say_what_they_wrote(tmp_path, capsys):
    pytest.importorskip("onnx")
    code, _, err = run(bsir_cli, capsys, "export", "tiny_cnn", "-o", tmp_path / "m.onnx")
    assert code == 0 and err.startswith("wrote ") and "m.onnx (" in err
    code, _, err = run(bsir_cli, capsys, "import", tmp_path / "m.onnx", "-o", tmp_path / "i.mlir")
    assert code == 0 and "i.mlir (" in err and "i.npz (" in err


def test_onnx_dynamic_batch_and_unknown_opset(tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    from onnx_models import classifier_head

    model = classifier_head()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    onnx.save(model, tmp_path / "dyn.onnx")
    code, _, err = run(bsir_cli, capsys, "import", tmp_path / "dyn.onnx", "-o",
                       tmp_path / "dyn.mlir")
    assert code == 0, err
    assert "note: graph input 'input' has a dynamic batch dimension; bsir compiles it for " \
           "batch 1" in err
    model = classifier_head()
    model.opset_import[0].version = 99
    onnx.save(model, tmp_path / "new.onnx")
    code, _, err = run(bsir_cli, capsys, "import", tmp_path / "new.onnx", "-o",
                       tmp_path / "new.mlir")
    assert_one_line(code, err)
    assert "opset 99" in err


def test_attributes_xdsl_cannot_build_are_a_located_error(tmp_path, capsys):
    """Found by the long fuzz profile: ``array<i74: ...>`` parses but xDSL cannot pack it."""
    code, _, _ = run(bsir_cli, capsys, "export", "tiny_cnn", "-o", tmp_path / "t.mlir",
                     "--no-weights")
    text = (tmp_path / "t.mlir").read_text().replace("kernel = array<i64", "kernel = array<i74")
    (tmp_path / "odd.mlir").write_text(text)
    code, _, err = run(bsir_opt, capsys, tmp_path / "odd.mlir")
    assert_one_line(code, err)
    assert err.startswith(f"{tmp_path / 'odd.mlir'}:") and "i74" in err
