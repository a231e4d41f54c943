"""The file rules: no output over an input, no partial output, no derived file replaced
that bsir did not write, outputs that load from where they were written, concurrent
runs that do not collide."""

import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bsir.files import FileSafetyError, file_run, note_input, stamp_of, write_text
from bsir.ir import load_module
from bsir.sparsity import mask_of_zero_blocks
from bsir.tools import bsir_cli, bsir_opt
from bsir.weights import load_weights


def run(tool, capsys, *argv):
    code = tool.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def tiny(tmp_path, capsys):
    """tiny_cnn exported to tmp_path/t.mlir + t.npz."""
    code, _, err = run(bsir_cli, capsys, "export", "tiny_cnn", "-o", tmp_path / "t.mlir")
    assert code == 0, err
    return tmp_path / "t.mlir"


def test_in_place_output_is_refused_and_input_kept(tiny, capsys):
    before = digest(tiny)
    code, _, err = run(bsir_opt, capsys, tiny, "-o", tiny)
    assert code == 1 and "is an input of this run" in err
    assert digest(tiny) == before
    # Through another name of the same file (a hard link) too.
    link = tiny.parent / "alias.mlir"
    os.link(tiny, link)
    code, _, err = run(bsir_opt, capsys, tiny, "-o", link)
    assert code == 1 and "is an input of this run" in err
    assert digest(tiny) == before


@pytest.mark.parametrize("read_only", [False, True])
def test_failing_run_leaves_existing_output_alone(tiny, capsys, read_only):
    keep = tiny.parent / "keep.mlir"
    keep.write_text("precious\n")
    if read_only:
        os.chmod(tiny, 0o444)
    code, _, err = run(bsir_opt, capsys, tiny, "-p", "tg-sparsify{ratio=1.5}", "-o", keep)
    assert code == 1 and "ratio must be in [0, 1]" in err
    assert keep.read_text() == "precious\n"
    assert sorted(p.name for p in tiny.parent.iterdir()) == ["keep.mlir", "t.mlir", "t.npz"]


def test_output_in_another_folder_loads_from_there(tiny, capsys):
    sub = tiny.parent / "sub"
    sub.mkdir()
    code, _, err = run(bsir_opt, capsys, tiny, "-p", "tg-sparsify{ratio=0.5 report=false}",
                       "-o", sub / "q.mlir")
    assert code == 0, err
    assert load_module(str(sub / "q.mlir")).attributes["tg.weights"].data == "q.npz"
    assert stamp_of(str(sub / "q.npz")) == "weights of q.mlir"
    code, _, err = run(bsir_cli, capsys, "compile", sub / "q.mlir")
    assert code == 0, err
    # A pipeline that writes no weights points the output at the input's weights.
    code, _, err = run(bsir_opt, capsys, tiny, "-o", sub / "r.mlir")
    assert code == 0, err
    assert load_module(str(sub / "r.mlir")).attributes["tg.weights"].data == "../t.npz"
    code, _, err = run(bsir_cli, capsys, "run", sub / "r.mlir")
    assert code == 0, err


def test_derived_weights_never_replace_a_users_file(tiny, capsys):
    folder = tiny.parent
    (folder / "out.npz").write_bytes(b"mine")
    argv = [tiny, "-p", "tg-sparsify{ratio=0.5 report=false}", "-o", folder / "out.mlir"]
    code, _, err = run(bsir_opt, capsys, *argv)
    assert code == 1 and "refusing to replace" in err and "--force" in err
    assert (folder / "out.npz").read_bytes() == b"mine"
    assert not (folder / "out.mlir").exists()
    code, _, err = run(bsir_opt, capsys, *argv, "--force")
    assert code == 0, err
    # Once bsir wrote it for out.mlir, a re-run replaces it without --force.
    code, _, err = run(bsir_opt, capsys, *argv)
    assert code == 0, err
    # The pass's derived name beside the input is never used: a user's file there stays.
    (folder / "t.sparse.npz").write_bytes(b"other")
    code, _, _ = run(bsir_opt, capsys, *argv)
    assert code == 0 and (folder / "t.sparse.npz").read_bytes() == b"other"


def test_export_does_not_replace_a_users_npz(tmp_path, capsys):
    (tmp_path / "t.npz").write_bytes(b"mine")
    code, _, err = run(bsir_cli, capsys, "export", "tiny_cnn", "-o", tmp_path / "t.mlir")
    assert code == 1 and "refusing to replace" in err
    assert (tmp_path / "t.npz").read_bytes() == b"mine" and not (tmp_path / "t.mlir").exists()
    code, _, err = run(bsir_cli, capsys, "export", "tiny_cnn", "-o", tmp_path / "t.mlir",
                       "--force")
    assert code == 0 and "wrote " in err and "t.npz" in err
    code, _, err = run(bsir_cli, capsys, "export", "tiny_cnn", "-o", tmp_path / "t.mlir")
    assert code == 0, err  # bsir's own file for t.mlir


def test_stdout_derived_weights_are_content_named(tiny, capsys):
    code, out, err = run(bsir_opt, capsys, tiny, "-p", "tg-sparsify{ratio=0.5 report=false}")
    assert code == 0, err
    name = out.split('tg.weights = "')[1].split('"')[0]
    assert name.startswith("t.sparse.") and len(name.split(".")) == 4
    first = digest(tiny.parent / name)
    code, out2, _ = run(bsir_opt, capsys, tiny, "-p", "tg-sparsify{ratio=0.5 report=false}")
    assert out2 == out and digest(tiny.parent / name) == first
    code, out3, _ = run(bsir_opt, capsys, tiny, "-p", "tg-sparsify{ratio=0.25 report=false}")
    assert name not in out3  # other weights, another name


@pytest.mark.parametrize("argv", [
    ["export", "tiny_cnn", "-o", "{dir}/t.npz"],
    ["compile", "{dir}/t.mlir", "--json", "{dir}/t.mlir"],
    ["compile", "{dir}/t.mlir", "--report", "{dir}/t.npz"],
    ["compile", "{dir}/t.mlir", "--trace", "{dir}/t.npz"],
    ["run", "{dir}/t.mlir", "-o", "{dir}/t.npz"],
    ["stats", "{dir}/t.mlir", "--json", "{dir}/t.mlir"],
])
def test_inputs_are_never_clobbered(tiny, capsys, argv):
    before = {p.name: digest(p) for p in tiny.parent.iterdir()}
    code, _, err = run(bsir_cli, capsys, *[a.format(dir=tiny.parent) for a in argv])
    assert code == 1, err
    assert "is an input of this run" in err or "its own weights file" in err
    assert {p.name: digest(p) for p in tiny.parent.iterdir()} == before


def test_import_refuses_to_overwrite_its_model(tmp_path, capsys):
    pytest.importorskip("onnx")
    onnx_path = tmp_path / "m.onnx"
    code, _, err = run(bsir_cli, capsys, "export", "tiny_cnn", "-o", onnx_path)
    assert code == 0, err
    before = digest(onnx_path)
    code, _, err = run(bsir_cli, capsys, "import", onnx_path, "-o", onnx_path)
    assert code == 1 and "is an input of this run" in err
    assert digest(onnx_path) == before


def test_run_output_is_exactly_the_named_file(tiny, capsys):
    folder = tiny.parent
    code, _, err = run(bsir_cli, capsys, "run", tiny, "-o", folder / "y")
    assert code == 0, err
    assert (folder / "y").exists() and not (folder / "y.npy").exists()
    assert np.load(folder / "y").shape == (1, 10)
    (folder / "adir").mkdir()
    code, _, err = run(bsir_cli, capsys, "run", tiny, "-o", folder / "adir")
    assert code == 1 and "is a folder" in err
    assert not (folder / "adir.npy").exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_full_device_is_an_error(tiny, capsys):
    code, _, err = run(bsir_cli, capsys, "run", tiny, "-o", "/dev/full")
    assert code == 1 and "No space left" in err
    code, _, err = run(bsir_opt, capsys, tiny, "-o", "/dev/full")
    assert code == 1 and "No space left" in err


def test_write_leaves_no_temporary_file_and_names_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    write_text(str(target), "x")
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]

    def broken(_stream):
        raise OSError(5, "Input/output error")

    from bsir.diagnostics import BsirError
    from bsir.files import write_atomically

    with pytest.raises(BsirError) as info:
        write_atomically(str(target), broken)
    assert ".tmp" not in str(info.value) and "out.txt" in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"] and target.read_text() == "x"


def test_replacing_keeps_the_mode_of_the_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    write_text(str(target), "new")
    assert oct(os.stat(target).st_mode & 0o777) == oct(0o640)


def test_inputs_noted_in_a_run_cannot_be_outputs(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("in")
    with file_run():
        note_input(str(source))
        with pytest.raises(FileSafetyError):
            write_text(str(source), "out")
    write_text(str(source), "out")  # outside a run there is no input bookkeeping
    assert source.read_text() == "out"


CONCURRENT_PIPELINES = ("tg-sparsify{ratio=0.5 report=false},tg-fold-batchnorm",
                        "tg-sparsify{ratio=0.25 report=false},tg-fold-batchnorm")


def _bsir_opt(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bsir.tools.bsir_opt", *argv],
                          capture_output=True, text=True, timeout=120)


def test_concurrent_runs_over_one_input_do_not_collide(tiny):
    """Two processes, same input, different pipelines, 20 rounds: every output valid and
    holding its own weights."""
    folder = tiny.parent
    before = digest(tiny), digest(folder / "t.npz")
    outputs = [folder / "a.mlir", folder / "b.mlir"]
    stdout_names: set[str] = set()
    with ThreadPoolExecutor(2) as pool:
        for _round in range(20):
            jobs = [pool.submit(_bsir_opt, str(tiny), "-p", spec, "-o", str(out))
                    for spec, out in zip(CONCURRENT_PIPELINES, outputs, strict=True)]
            for job in jobs:
                result = job.result()
                assert result.returncode == 0, result.stderr
        with ThreadPoolExecutor(2) as inner:
            piped = list(inner.map(lambda spec: _bsir_opt(str(tiny), "-p", spec),
                                   CONCURRENT_PIPELINES))
        for result in piped:
            assert result.returncode == 0, result.stderr
            stdout_names.add(result.stdout.split('tg.weights = "')[1].split('"')[0])
    assert len(stdout_names) == 2  # one content-named file per pipeline
    kept = []
    for out in outputs:
        module = load_module(str(out))
        weights = load_weights(module, str(out))
        layers = [op for op in module.walk() if getattr(op, "sparsity", None) is not None]
        for op in layers:  # the weights file is this output's: zero where its mask drops
            nonzero = mask_of_zero_blocks(weights[op.weight.owner.key.data],
                                          op.sparsity.block_shape)
            assert not (nonzero & ~op.sparsity.mask_array()).any()
        kept.append(sum(int(op.sparsity.mask_array().sum()) for op in layers))
    assert kept[0] < kept[1]  # 50 % keeps fewer blocks than 25 %
    assert (digest(tiny), digest(folder / "t.npz")) == before
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_python_api_passes_do_not_replace_a_users_file(tiny):
    """Outside bsir-opt a pass writes its derived weights beside the input, stamped; a
    file of that name that bsir did not write stays."""
    from bsir.driver.pipeline import run_pipeline
    from bsir.weights import ir_location

    folder = tiny.parent
    (folder / "t.sparse.npz").write_bytes(b"mine")
    module = load_module(str(tiny))
    with ir_location(str(tiny)), pytest.raises(FileSafetyError, match="refusing to replace"):
        run_pipeline(module, "tg-sparsify{ratio=0.5 report=false}")
    assert (folder / "t.sparse.npz").read_bytes() == b"mine"
    (folder / "t.sparse.npz").unlink()
    module = load_module(str(tiny))
    with ir_location(str(tiny)):
        run_pipeline(module, "tg-sparsify{ratio=0.5 report=false}")
        assert stamp_of(str(folder / "t.sparse.npz")) == "sparse weights of t.npz"
        run_pipeline(load_module(str(tiny)), "tg-sparsify{ratio=0.25 report=false}")
