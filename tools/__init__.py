"""Command-line tools: ``bsir-opt`` (mlir-opt style driver) and ``bsir`` (the user command)."""
