"""`smolmamba bench`: measured throughput, peak memory, training step time and where time goes."""
