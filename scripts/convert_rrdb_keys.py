"""Moved to ``scripts/model_conversion/convert_rrdb_keys.py``; this path keeps working."""
import os.path as osp
import runpy

runpy.run_path(osp.join(osp.dirname(osp.abspath(__file__)), 'model_conversion', 'convert_rrdb_keys.py'),
               run_name='__main__')
