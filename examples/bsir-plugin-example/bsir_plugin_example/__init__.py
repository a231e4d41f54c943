"""An example bsir-opt plugin: one pass, registered through an xDSL universe."""
