"""bsir: a block-sparse compiler for AI accelerators, built on xDSL.

The distribution installs the repository folders as sub-packages:
``bsir`` (core), ``bsir.dialects``, ``bsir.passes``, ``bsir.tools``.
"""

__version__ = "0.1.0"
