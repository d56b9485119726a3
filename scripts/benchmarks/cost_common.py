"""The cost benchmark's shared parts: presets, the machine, memory high-water marks, synthetic data."""
from __future__ import annotations

import contextlib
import ctypes
import datetime
import gc
import os
import os.path as osp
import platform
import sys
import threading
import time
from typing import Any, Optional

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('SFD_OFFLINE', '1')
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from cost_presets import PRESETS, TINY_RN_CFG, TINY_TEXT_CFG  # noqa: E402,F401  (here too, as before)

import sfd_arch  # noqa: E402,F401  (light; SFDModel & co. reach BasicSR's registries when BasicSR is imported)
from sfd_arch.tools.cost_targets import IQA_SIZE  # noqa: E402,F401  (the workload's size, named in the targets)

T0 = time.perf_counter()
MIB = 2.0 ** 20
VGG_FILE = osp.join('experiments', 'pretrained_models', 'vgg19-dcbb9e9d.pth')  # where BasicSR looks (cwd)

IQA_IMAGES = 8
AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def log(msg: str) -> None:
    print(f'[{time.perf_counter() - T0:7.1f}s] {msg}', file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------------------
# Machine and memory
# ------------------------------------------------------------------------------------------------------------

def _cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device) -> dict[str, Any]:
    import basicsr
    import open_clip

    info = {
        'date': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
        'host': platform.node(),
        'cpu': _cpu_model(),
        'cpu_count': os.cpu_count(),
        'cpus_usable': len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count(),
        'torch_threads': torch.get_num_threads(),
        'python': platform.python_version(),
        'torch': torch.__version__,
        'basicsr': getattr(basicsr, '__version__', '?'),
        'open_clip': getattr(open_clip, '__version__', '?'),
        'sfd_arch': sfd_arch.__version__,
        'device': str(device),
        'device_name': _cpu_model(),
        'loadavg_start': list(os.getloadavg()) if hasattr(os, 'getloadavg') else None,
    }
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        info.update(device_name=props.name, device_memory_gib=round(props.total_memory / 2 ** 30, 1),
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return info


def rss_bytes() -> int:
    """Resident set size of this process (psutil when installed, else /proc/self/statm)."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def _reset_hwm() -> bool:
    """Reset the kernel's peak-RSS counter VmHWM (Linux >= 4.0); False where not allowed."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def _hwm_bytes() -> Optional[int]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def release_memory(device: torch.device) -> None:
    """Give freed memory back: Python's garbage, glibc's heap (malloc_trim) and CUDA's cache."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()


class PeakRSS:
    """Samples RSS in a background thread (every ``interval`` s) and, where allowed, reads VmHWM too."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self.hwm_ok = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> 'PeakRSS':
        self.hwm_ok = _reset_hwm()
        self.peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
        self.hwm = _hwm_bytes() if self.hwm_ok else None


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------------------

def smooth_images(n: int, height: int, width: int, seed: int) -> torch.Tensor:
    """(n, 3, H, W) in [0, 1]: bicubic-upsampled noise plus mild grain, a stand-in for natural patches."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, max(height // 16, 2), max(width // 16, 2), generator=gen)
    img = F.interpolate(low, size=(height, width), mode='bicubic', align_corners=False)
    img = img + 0.02 * torch.randn(img.shape, generator=gen)
    return img.clamp(0, 1)


def paired_batch(batch: int, gt_size: int, scale: int, device: torch.device) -> dict[str, torch.Tensor]:
    gt = smooth_images(batch, gt_size, gt_size, seed=gt_size)
    lq = F.interpolate(gt, scale_factor=1 / scale, mode='bicubic', align_corners=False, antialias=True).clamp(0, 1)
    return {'lq': lq.to(device), 'gt': gt.to(device)}


def write_random_vgg19(path: str = VGG_FILE) -> None:
    """BasicSR's PerceptualLoss loads this file when it exists (relative to the cwd) instead of downloading."""
    import torchvision

    if osp.isfile(path):
        return
    os.makedirs(osp.dirname(path), exist_ok=True)
    torch.manual_seed(0)
    torch.save({k: v.half() for k, v in torchvision.models.vgg19().state_dict().items()}, path)


