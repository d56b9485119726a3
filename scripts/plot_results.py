"""Moved to ``scripts/plot/plot_results.py``; this path keeps working."""
import os.path as osp
import runpy

runpy.run_path(osp.join(osp.dirname(osp.abspath(__file__)), 'plot', 'plot_results.py'), run_name='__main__')
