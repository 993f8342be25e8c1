"""wardgate's benchmarks: `python -m bench.run` (wardgate vs OpenBao, see bench/README.md)."""
