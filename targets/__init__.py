"""Hardware targets of bsir; ``aie2`` is the AMD AIE2 array of the paper."""
