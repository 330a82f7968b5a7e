"""Benchmarks of the bot on loopback fakes; each script has ``--help``, results in RESULTS.md."""
