"""Drivers: whole compilations built from the passes (compile, Table 2, verification,
text pipelines). The tools call these; nothing below them imports them."""
