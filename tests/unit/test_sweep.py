"""bsir sweep: specs, rows, resumption, parallel runs equal to serial ones."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bsir.driver.sweep import (
    Configuration,
    RowStore,
    SweepError,
    expand_grids,
    parse_spec,
    run_sweep,
)

SMALL = {"models": ["tiny_cnn", "tiny_resnet"], "grids": ["1x2", "2x2"],
         "sparsities": [0.0, 0.5]}


def test_a_spec_is_the_product_of_its_dimensions_in_order():
    configs = parse_spec({**SMALL, "memtiles": ["shared", "separate"],
                          "criteria": ["l1", "l2"]})
    assert len(configs) == 2 * 2 * 2 * 2 * 2
    first, second = configs[0], configs[1]
    assert (first.model, first.hardware, first.memtiles, first.sparsity, first.criterion) \
        == ("tiny_cnn", "1x2", "shared", 0.0, "l1")
    assert second.criterion == "l2"  # the last dimension varies fastest
    assert len({c.key for c in configs}) == len(configs)
    # every key may be omitted: one model on 4x4, dense, as bsir compile does
    assert parse_spec({"models": ["tiny_cnn"]}) == [Configuration("tiny_cnn")]


def test_grid_ranges_and_presets():
    assert expand_grids("2..3x4..5") == ["2x4", "2x5", "3x4", "3x5"]
    assert expand_grids("1..8x1..8")[-1] == "8x8" and len(expand_grids("1..8x1..8")) == 64
    assert expand_grids("paper-8x8") == ["paper-8x8"]
    configs = parse_spec({"models": ["tiny_cnn"], "grids": ["1..2x2", "2x2"],
                          "hardware": ["paper"]})
    assert [c.hardware for c in configs] == ["1x2", "2x2", "paper"]  # 2x2 once


def test_explicit_configurations():
    configs = parse_spec({"configuration": [
        {"model": "tiny_cnn", "hardware": "2x2", "sparsity": 0.5, "block": "4x4"},
        {"model": "tiny_resnet", "overrides": {"conv*": 0.75}}]})
    assert configs == [Configuration("tiny_cnn", "2x2", sparsity=0.5, block="4x4"),
                       Configuration("tiny_resnet", overrides="conv*=0.75")]


@pytest.mark.parametrize("data,message", [
    ({"models": ["tiny_cnn"], "grid": ["2x2"]}, "unknown key 'grid'"),
    ({"grids": ["2x2"]}, "needs 'models'"),
    ({"models": ["nonet"]}, "unknown model 'nonet'"),
    ({"models": ["missing.mlir"]}, "no such file"),
    ({"models": ["tiny_cnn"], "grids": ["0x2"]}, "grids:"),
    ({"models": ["tiny_cnn"], "grids": ["3..2x2"]}, "is empty"),
    ({"models": ["tiny_cnn"], "sparsities": [1.5]}, r"ratio in \[0, 1\)"),
    ({"models": ["tiny_cnn"], "sparsities": ["auto:half"]}, "'auto:RATIO'"),
    ({"models": ["tiny_cnn"], "blocks": ["8"]}, "blocks:"),
    ({"models": ["tiny_cnn"], "criteria": ["l3"]}, "'l3' is not one of"),
    ({"models": ["tiny_cnn"], "cost_models": ["fast"]}, "cost_models"),
    ({"models": ["tiny_cnn"], "overlap": ["activations"]}, "overlap: .activations."),
    ({"models": ["tiny_cnn"], "overrides": ["conv1"]}, "bad override"),
    ({"models": ["tiny_cnn"], "memtiles": []}, "is empty"),
    ({"models": ["tiny_cnn"], "configuration": [{"model": "tiny_cnn"}]}, "not both"),
    ({"configuration": [{"model": "tiny_cnn", "hardware": "1..2x2"}]}, "one array"),
    ({"configuration": [{"hardware": "2x2"}]}, "needs a 'model'"),
])
def test_bad_specs_are_one_located_line(data, message):
    with pytest.raises(SweepError, match=message) as caught:
        parse_spec(data, "s.toml")
    assert str(caught.value).startswith("s.toml") and "\n" not in str(caught.value)


def test_a_parallel_sweep_gives_the_rows_of_a_serial_one(tmp_path):
    configs = parse_spec(SMALL)
    serial = run_sweep(configs, str(tmp_path / "serial"), jobs=1)
    parallel = run_sweep(configs, str(tmp_path / "parallel"), jobs=2)
    assert serial.ran == parallel.ran == len(configs) and serial.failed == 0
    rows = [RowStore(str(tmp_path / name)).rows for name in ("serial", "parallel")]
    assert rows[0] == rows[1]
    csv = (tmp_path / "serial" / "results.csv").read_text().splitlines()
    assert len(csv) == 1 + len(configs)
    assert csv[0].startswith("key,model,hardware") and "total_s" in csv[0]
    # the rows are bsir compile's figures
    import bsir
    row = rows[0][configs[-1].key]
    result = bsir.compile("tiny_resnet", grid="2x2", sparsity=0.5)
    assert row["total_s"] == result.total_s and row["bound_s"] == result.timing.bound_s
    assert row["ddr_s"] + row["memtile_core_s"] + row["compute_s"] \
        == pytest.approx(row["total_s"])


def test_a_rerun_skips_the_rows_there_and_drops_a_cut_line(tmp_path):
    configs = parse_spec(SMALL)
    folder = tmp_path / "out"
    run_sweep(configs[:3], str(folder))
    rows_file = folder / "rows.jsonl"
    with open(rows_file, "a") as stream:
        stream.write('{"key": "ab')  # a run killed in the middle of a line
    summary = run_sweep(configs, str(folder))
    assert (summary.skipped, summary.ran) == (3, len(configs) - 3)
    lines = rows_file.read_text().splitlines()
    assert sorted(json.loads(line)["key"] for line in lines) == sorted(c.key for c in configs)


def test_a_folder_that_is_not_a_sweeps_is_refused(tmp_path):
    (tmp_path / "rows.jsonl").write_text("my notes\nmore notes\n")
    with pytest.raises(SweepError, match="not a bsir sweep's rows file"):
        run_sweep(parse_spec({"models": ["tiny_cnn"]}), str(tmp_path))
    assert (tmp_path / "rows.jsonl").read_text() == "my notes\nmore notes\n"


def test_a_configuration_that_does_not_fit_is_a_row_saying_why(tmp_path):
    hardware = tmp_path / "tiny.toml"
    hardware.write_text("rows = 2\ncols = 2\n[core]\ninput_buffer = 64\noutput_buffer = 64\n")
    spec = tmp_path / "spec.toml"
    spec.write_text('models = ["tiny_cnn"]\nhardware = ["tiny.toml"]\ngrids = ["1x2"]\n')
    from bsir.driver.sweep import load_spec
    summary = run_sweep(load_spec(str(spec)), str(tmp_path / "out"))
    assert summary.failed == 1
    rows = RowStore(str(tmp_path / "out")).rows.values()
    failed = [row for row in rows if row["failed"]]
    assert len(failed) == 1 and "overflows" in failed[0]["failed"]
    assert failed[0]["total_s"] is None


def _bsir(*args: str) -> list[str]:
    return [sys.executable, "-c", "from bsir.tools.bsir_cli import main; import sys; "
            "sys.exit(main())", *args]


def test_an_interrupted_sweep_finishes_with_one_row_per_configuration(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('models = ["tiny_resnet", "tiny_inception"]\n'
                    'grids = ["1..3x1..4"]\nsparsities = [0.0, 0.5]\n')
    out = tmp_path / "out"
    process = subprocess.Popen(_bsir("sweep", str(spec), "-o", str(out), "--jobs", "1",
                                     "--no-progress"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rows = out / "rows.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and not (
            rows.exists() and rows.read_text().count("\n") >= 2):
        time.sleep(0.05)
    assert process.poll() is None, "the sweep finished before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "interrupted:" in err and "run the same sweep again" in err
    done = rows.read_text().count("\n")
    assert 2 <= done < 48
    finished = subprocess.run(_bsir("sweep", str(spec), "-o", str(out), "--no-progress"),
                              capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    assert f"48 configurations: {done} already done, {48 - done} compiled" in finished.stdout
    keys = [json.loads(line)["key"] for line in rows.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 48
    assert len((out / "results.csv").read_text().splitlines()) == 49


def test_the_command_line_reports_a_bad_spec(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('models = ["tiny_cnn"]\nsparsities = 0.5.1\n')
    result = subprocess.run(_bsir("sweep", str(spec), "-o", str(tmp_path / "out")),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{spec}: error: not a TOML file")
    assert result.stderr.count("\n") == 1 and not os.path.exists(Path(tmp_path / "out"))


def _dies_once(marker: str):
    """A run_configuration whose worker process dies the first time it is called."""
    from bsir.driver import sweep

    real = sweep.run_configuration

    def run(config, verify=False):
        if not os.path.exists(marker):
            Path(marker).write_text("died")
            os._exit(1)
        return real(config, verify)

    return run


def test_a_configuration_whose_worker_dies_is_run_again(tmp_path, monkeypatch):
    from bsir.driver import sweep

    monkeypatch.setattr(sweep, "run_configuration", _dies_once(str(tmp_path / "marker")))
    configs = parse_spec(SMALL)
    summary = run_sweep(configs, str(tmp_path / "out"), jobs=2)
    assert (tmp_path / "marker").exists()  # a worker did die
    assert summary.ran == len(configs)
    assert set(RowStore(str(tmp_path / "out")).rows) == {c.key for c in configs}


def test_a_sweep_on_a_ray_cluster_gives_the_local_pools_rows(tmp_path):
    pytest.importorskip("ray")
    ray_cli = Path(sys.executable).parent / "ray"
    if not ray_cli.exists():
        pytest.skip("the ray command is not installed beside this Python")
    spec = tmp_path / "spec.toml"
    spec.write_text('models = ["tiny_cnn", "tiny_resnet"]\ngrids = ["1..2x2..3", "4x4"]\n'
                    'sparsities = [0.0, 0.5]\n')  # 20 configurations
    # a head node of 2 CPUs (no token: the test's cluster lives on this machine only)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # a Unix socket path stays short
    started = subprocess.run([str(ray_cli), "start", "--head", "--num-cpus", "2",
                              "--port", "0", "--include-dashboard", "false",
                              "--temp-dir", temp],
                             capture_output=True, text=True, timeout=300, env=env)
    assert started.returncode == 0, started.stderr
    try:
        address = re.search(r"--address='([^']+)'", started.stdout + started.stderr).group(1)
        on_ray = subprocess.run(_bsir("sweep", str(spec), "-o", str(tmp_path / "ray-out"),
                                      "--ray", address, "--no-progress"),
                                capture_output=True, text=True, timeout=600, env=env)
        assert on_ray.returncode == 0, on_ray.stderr
    finally:
        subprocess.run([str(ray_cli), "stop", "--force"], capture_output=True, timeout=120,
                       env=env)
        shutil.rmtree(temp, ignore_errors=True)
    local = subprocess.run(_bsir("sweep", str(spec), "-o", str(tmp_path / "local-out"),
                                 "--jobs", "2", "--no-progress"),
                           capture_output=True, text=True, timeout=600)
    assert local.returncode == 0, local.stderr
    assert "20 configurations: 0 already done, 20 compiled" in on_ray.stdout
    assert RowStore(str(tmp_path / "ray-out")).rows == RowStore(str(tmp_path / "local-out")).rows


def test_overrides_sparsify_the_layers_they_name():
    from bsir.driver.sweep import run_configuration

    dense = run_configuration(Configuration("tiny_resnet", "2x2"))
    overridden = run_configuration(Configuration("tiny_resnet", "2x2", overrides="*=0.75"))
    assert overridden["total_s"] < dense["total_s"]
    assert overridden["key"] != dense["key"]


def test_auto_sparsity_keeps_dense_what_sparsity_does_not_speed_up():
    from bsir.driver.sweep import run_configuration

    sparse, auto = parse_spec({"models": ["tiny_inception"], "grids": ["8x8"],
                               "sparsities": [0.5, "auto"]})
    assert (auto.sparsity, auto.sparsity_auto) == (0.5, True)
    plain, kept = run_configuration(sparse), run_configuration(auto)
    # on 64 cores its small layers run as fast with their zeros: all of them stay dense
    assert kept["dense_layers"] > 0 and kept["density"] > plain["density"]
    assert kept["total_s"] <= plain["total_s"]


def test_the_pareto_front_is_what_nothing_beats_on_both():
    from bsir.driver.sweep import pareto

    points = [(2, 10.0), (4, 6.0), (4, 7.0), (8, 6.0), (16, 3.0), (16, 3.0), (1, 12.0)]
    assert pareto(points) == [True, True, False, False, True, True, True]


def test_fronts_of_a_sweep(tmp_path):
    from bsir.driver.sweep import front_data, write_fronts

    configs = parse_spec({"models": ["tiny_cnn"], "grids": ["1x2", "2x2"],
                          "sparsities": [0.0, 0.5]})
    run_sweep(configs, str(tmp_path))
    data = front_data(list(RowStore(str(tmp_path)).rows.values()))
    points = data["models"][0]["points"]
    assert {p["cores"] for p in points} == {2, 4}
    fastest = min(points, key=lambda p: p["total_s"])
    assert fastest["front_cores"] and fastest["front_density"]
    sparse = [p for p in points if p["sparsity"] > 0]
    assert all(p["speedup"] > 1 for p in sparse)
    files = write_fronts(str(tmp_path), configs)
    assert os.path.basename(files[0]) == "fronts.html"


def test_an_onnx_model_sweeps_like_the_built_in_one(tmp_path):
    pytest.importorskip("onnx")
    from bsir.driver.sweep import load_spec
    from bsir.models import build_model
    from bsir.onnx_export import export_onnx
    from bsir.weights import materialize

    built = build_model("tiny_cnn")
    export_onnx(built.module, materialize(built.specs, 0), str(tmp_path / "net.onnx"))
    spec = tmp_path / "spec.toml"
    spec.write_text('models = ["net.onnx", "tiny_cnn"]\ngrids = ["2x2"]\n')
    run_sweep(load_spec(str(spec)), str(tmp_path / "out"))
    rows = sorted(RowStore(str(tmp_path / "out")).rows.values(), key=lambda r: r["model"])
    assert rows[0]["model"].endswith("net.onnx") and rows[1]["model"] == "tiny_cnn"
    assert rows[0]["total_s"] == rows[1]["total_s"]


def test_a_users_table_in_a_new_results_folder_is_not_replaced(tmp_path):
    (tmp_path / "results.csv").write_text("mine\n")
    with pytest.raises(SweepError, match=r"refusing to replace results\.csv"):
        run_sweep(parse_spec({"models": ["tiny_cnn"]}), str(tmp_path))
    assert (tmp_path / "results.csv").read_text() == "mine\n"
    assert not (tmp_path / "rows.jsonl").exists()
