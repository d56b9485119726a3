"""Moved to ``scripts/benchmarks/benchmark.py``; this path keeps working."""
import os.path as osp
import runpy

runpy.run_path(osp.join(osp.dirname(osp.abspath(__file__)), 'benchmarks', 'benchmark.py'), run_name='__main__')
