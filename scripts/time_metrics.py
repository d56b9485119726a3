"""Moved to ``scripts/benchmarks/time_metrics.py``; this path keeps working."""
import os.path as osp
import runpy

runpy.run_path(osp.join(osp.dirname(osp.abspath(__file__)), 'benchmarks', 'time_metrics.py'), run_name='__main__')
