"""bsir's dialects: ``tg`` (tensor graph); ``tiling`` and ``aie2`` follow the lowering."""
