"""Benchmarks: `python -m bench.run` (what `make bench` calls) prints one figure and one ratio per
workload. Each workload runs as its own process against its own scratch database, so a
benchmark never touches the data of `make run`."""
