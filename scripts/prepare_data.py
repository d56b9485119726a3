"""Moved to ``scripts/data_preparation/prepare_data.py``; this path keeps working."""
import os.path as osp
import runpy

runpy.run_path(osp.join(osp.dirname(osp.abspath(__file__)), 'data_preparation', 'prepare_data.py'), run_name='__main__')
