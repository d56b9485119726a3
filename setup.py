"""Install the SFD plugin for BasicSR.

Besides the ``sfd_arch`` package this installs ``_sfd_arch_hook.py`` and ``sfd_arch_hook.pth`` into
site-packages. The ``.pth`` file makes BasicSR's own entry points (``python -m basicsr.train``, a clone's
``basicsr/train.py``) find the SFD classes; see ``_sfd_arch_hook.py``. A ``.pth`` file only reaches
site-packages through a regular ``pip install .`` (not ``-e``), which is what ``make setup`` runs.
"""
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
HOOK_PTH = 'sfd_arch_hook.pth'


class BuildPyWithHook(build_py):
    """Copies the start-up ``.pth`` file to the root of the build, so it lands in site-packages."""

    def run(self):
        super().run()
        self.copy_file(os.path.join(HERE, HOOK_PTH), os.path.join(self.build_lib, HOOK_PTH))


def read_version():
    with open(os.path.join(HERE, 'sfd_arch', 'version.py')) as f:
        scope = {}
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='sfd_arch',
    version=read_version(),
    description='Semantic Feature Discrimination (SFD, CVPR 2025) for BasicSR: Feat-D, TG-D/LPP and SFD-IQA',
    long_description=open(os.path.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(include=['sfd_arch', 'sfd_arch.*']),
    py_modules=['_sfd_arch_hook'],
    include_package_data=True,
    package_data={'sfd_arch': ['py.typed', 'eval/assets/*.js', 'eval/assets/*.css', 'eval/templates/*.j2']},
    cmdclass={'build_py': BuildPyWithHook},
    install_requires=[
        'basicsr>=1.4.2',
        'torch>=2.4',  # weights-only loads of training states: collections.Counter allowed by default since 2.4
        'torchvision',
        'open_clip_torch>=2.20',
        'opencv-python',
        'lmdb',
        'pyyaml',
        'pydantic>=2',  # the option-file schema (sfd_arch.options)
        'safetensors',  # .safetensors weights, read without unpickling (sfd_arch.utils.checkpoints)
        'filelock>=3.0',  # one writer per sfd-iqa score output (sfd_arch.utils.files.single_writer)
        'setuptools',
        'scipy',
        'tqdm',
        'matplotlib',
        'openpyxl',  # sfd-iqa bench / eval: the .xlsx score files of CSIQ, CID2013, SPAQ as released
        'pypiqe',    # sfd-iqa bench: the PIQE baseline (pure Python, no weights)
        'jinja2>=3.0',  # report.html pages (sfd_arch/eval/templates), autoescaping on
    ],
    extras_require={
        # lpips, DISTS_pytorch, pytorch-fid, torch-fidelity (KID): the reference implementations the metric tests
        # compare against
        # spandrel: the tests of reading any generator file (sfd_arch.archs.generators) run in CI too
        'test': ['pytest', 'ruff', 'import-linter>=2.1', 'lpips', 'dists-pytorch', 'pytorch-fid', 'torch-fidelity',
                 'spandrel>=0.4'],
        # ships the published LPIPS linear heads and DISTS alpha/beta, which sfd_arch.metrics finds there
        'metrics': ['lpips', 'dists-pytorch'],
        'pyiqa': ['pyiqa>=0.1.16'],
        # any generator file by its keys (ESRGAN, Real-ESRGAN compact, SwinIR, HAT, DAT, SPAN, ...): spandrel (MIT),
        # the loader chaiNNer and ComfyUI use; without it BasicSR RRDBNets and network_g blocks still load
        'models': ['spandrel>=0.4'],
    },
    entry_points={
        'console_scripts': [
            'sfd-train=sfd_arch.train:main',
            'sfd-test=sfd_arch.test:main',
            'sfd-iqa=sfd_arch.cli:main',
        ],
    },
    license='Apache-2.0',
)
