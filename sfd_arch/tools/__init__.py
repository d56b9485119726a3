"""The engines of the user tools in ``scripts/``: data preparation, checkpoint key conversion, option switching.

Each script is its argument parser and ``main`` over one module here, so the tests (and users' own code)
import the logic instead of a script: ``prepare_data``, ``convert_rrdb_keys``, ``switch``.
"""
