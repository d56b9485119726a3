"""The cost benchmark's presets: plain data, so that ``benchmark.py --help`` lists them before torch is imported."""
from __future__ import annotations

from typing import Any

# An open_clip config small enough for a quick run (the shape of tests/conftest.py's tiny RN, a bit wider).
TINY_TEXT_CFG = {'context_length': 77, 'vocab_size': 49408, 'width': 32, 'heads': 2, 'layers': 1}
TINY_RN_CFG = {'embed_dim': 64, 'vision_cfg': {'image_size': 64, 'layers': [1, 1, 1, 1], 'width': 16,
                                               'patch_size': None}, 'text_cfg': TINY_TEXT_CFG}

PRESETS: dict[str, dict[str, Any]] = {
    'paper': {
        'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64, 'num_block': 23,
                      'num_grow_ch': 32},
        'd_num_feat': 64,
        'clip': {'model': 'RN50', 'pretrained': None},
        'batch': {'cpu': 4, 'cuda': 16},
        'sizes': [128, 256],
        'iters': {'cpu': 3, 'cuda': 20},
        'warmup': {'cpu': 1, 'cuda': 5},
        'iqa_iters': {'cpu': 3, 'cuda': 20},
        'iqa_batches': {'cpu': [1, 8], 'cuda': [1, 8, 64]},
        'files': {'cpu': 16, 'cuda': 2048},
        'file_batch': {'cpu': 8, 'cuda': 64},
    },
    'small': {
        'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 16, 'num_block': 2,
                      'num_grow_ch': 8},
        'd_num_feat': 16,
        'clip': {'model': 'tiny-RN', 'model_cfg': TINY_RN_CFG, 'pretrained': None},
        'batch': {'cpu': 2, 'cuda': 4},
        'sizes': [128],  # VGGStyleDiscriminator takes 128 or 256 only: 128 is the smallest patch; no growth
        'iters': {'cpu': 3, 'cuda': 10},
        'warmup': {'cpu': 1, 'cuda': 3},
        'iqa_iters': {'cpu': 3, 'cuda': 10},
        'iqa_batches': {'cpu': [1, 8], 'cuda': [1, 8, 64]},
        'files': {'cpu': 64, 'cuda': 1024},
        'file_batch': {'cpu': 8, 'cuda': 64},
    },
}
