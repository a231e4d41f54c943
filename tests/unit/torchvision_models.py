"""torchvision's model definitions for the tests that compare against them."""

import sys
import types

import pytest


def torchvision_models():
    """``torchvision.models`` (the test skips without torchvision); its C operators (a
    CUDA build's) are not needed, so their registration is skipped."""
    sys.modules.setdefault("torchvision._meta_registrations",
                           types.ModuleType("torchvision._meta_registrations"))
    torchvision = pytest.importorskip("torchvision")
    return torchvision.models
