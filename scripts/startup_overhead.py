"""Moved to scripts/benchmarks/startup_overhead.py; this path keeps working (same arguments)."""
import runpy  # noqa: I001  (a three-line forward)
runpy.run_path(__file__.replace('startup_overhead.py', 'benchmarks/startup_overhead.py'), run_name='__main__')
