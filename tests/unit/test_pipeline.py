"""Pipeline specs in xDSL and MLIR form."""

import pytest

from bsir.diagnostics import BsirError
from bsir.driver.pipeline import parse_pipeline, run_pipeline, strip_module_anchor
from bsir.models import build_model


@pytest.mark.parametrize("spec, expected", [
    ("cse", "cse"),
    ("builtin.module(cse)", "cse"),
    ("builtin.module(cse, dce)", "cse,dce"),
    ("  builtin.module( builtin.module(a{x=1 y=2,3}, b) )", "a{x=1 y=2,3},b"),
    ("a{block=8,8 ratio=0.5},b", "a{block=8,8 ratio=0.5},b"),
    ("", ""),
])
def test_strip_module_anchor(spec, expected):
    assert strip_module_anchor(spec) == expected


@pytest.mark.parametrize("spec, message", [
    ("builtin.module(cse", "malformed pipeline"),
    ("func.func(cse)", "nests an anchor other than builtin.module"),
    ("cse,,dce", "empty pass name"),
    ("no-such-pass", "unknown pass"),
    ("dce{x=1}", "bad pass options"),
    ("dce{", "malformed pipeline"),
])
def test_bad_pipelines_are_one_line_errors(spec, message):
    with pytest.raises(BsirError, match=message) as info:
        parse_pipeline(spec)
    assert "\n" not in str(info.value)


def test_run_pipeline_applies_and_verifies():
    module = build_model("tiny_cnn").module
    before = len(list(module.walk()))
    run_pipeline(module, "builtin.module(cse, dce)")
    assert len(list(module.walk())) == before  # nothing is dead or duplicated


def test_an_empty_anchored_pipeline_runs_no_pass():
    assert parse_pipeline("builtin.module()").passes == ()
    assert parse_pipeline("").passes == ()
