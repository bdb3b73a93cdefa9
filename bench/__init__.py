"""Benchmarks of issue 5: speed side by side, the fault run, the load run (see README, Benchmarks)."""
