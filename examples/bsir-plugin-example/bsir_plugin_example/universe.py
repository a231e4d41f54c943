"""The plugin's universe: what bsir-opt discovers through the entry point."""

from xdsl.universe import Universe


def _fold_relu_into_clip():
    from bsir_plugin_example.fold_relu_into_clip import FoldReluIntoClipPass

    return FoldReluIntoClipPass


UNIVERSE = Universe(all_passes={"example-fold-relu-into-clip": _fold_relu_into_clip})
