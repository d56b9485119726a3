"""Draw SFD's method figure: the frozen CLIP, its taps, the Feat-D heads, TG-D with the learnable prompt pairs, and
the losses (docs/tutorial.md shows it).

    python scripts/plot/method_figure.py -o docs/method_figure.png
"""
from __future__ import annotations

import argparse

FROZEN, TRAINED, DATA, LOSS = '#dde6f2', '#f9dcc4', '#eeeeee', '#e3f1dc'


def _box(ax, x: float, y: float, w: float, h: float, text: str, color: str, size: float = 7.5,
         dashed: bool = False) -> tuple[float, float, float, float]:
    """A rounded box centred on (x, y); returns its (left, right, bottom, top) for arrows."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle='round,pad=0.02,rounding_size=0.08',
                                fc=color, ec='#333333', lw=0.8, ls='--' if dashed else '-'))
    ax.text(x, y, text, ha='center', va='center', fontsize=size)
    return x - w / 2, x + w / 2, y - h / 2, y + h / 2


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], color: str = '#333333',
           style: str = '-|>') -> None:
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=8, lw=0.8, color=color,
                                 shrinkA=0, shrinkB=0))


def draw(path: str) -> str:
    """SFD in one figure, 9 x 4.6 in (a full-width figure); returns ``path``."""
    import matplotlib  # here: `--help` answers without it

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=(9.0, 4.6))
    ax.set_xlim(0, 14)
    ax.set_ylim(0, 7.2)
    ax.axis('off')

    _box(ax, 0.9, 5.6, 1.4, 0.7, 'LR', DATA)
    _box(ax, 2.7, 5.6, 1.5, 0.8, 'generator\nRRDBNet', TRAINED)
    _arrow(ax, (1.6, 5.6), (1.95, 5.6))
    _box(ax, 2.7, 3.9, 1.5, 0.7, 'SR (fake)', DATA)
    _box(ax, 2.7, 2.6, 1.5, 0.7, 'HR (real)', DATA)
    _arrow(ax, (2.7, 5.2), (2.7, 4.25))

    # the frozen CLIP image tower, its taps
    ax.add_patch(FancyBboxPatch((4.2, 1.6), 2.6, 3.5, boxstyle='round,pad=0.02,rounding_size=0.1', fc=FROZEN,
                                ec='#333333', lw=0.8))
    ax.text(5.5, 5.2, 'CLIP image encoder\n(frozen)', ha='center', va='bottom', fontsize=7, weight='bold')
    stages = ['stem', 'layer1', 'layer2', 'layer3', 'layer4 + attn pool']
    for i, name in enumerate(stages):
        _box(ax, 5.5, 4.65 - i * 0.68, 2.1, 0.45, name, 'white', size=7)
        if i:
            _arrow(ax, (5.5, 4.65 - (i - 1) * 0.68 - 0.23), (5.5, 4.65 - i * 0.68 + 0.23))
    _arrow(ax, (3.45, 3.9), (4.45, 4.65))
    _arrow(ax, (3.45, 2.6), (4.45, 4.55))
    ax.text(2.7, 2.1, 'CLIP runs twice: SR with\ngradients, HR without', fontsize=6, ha='center', va='top',
            color='#555555')

    # Feat-D: one head per tap
    ax.text(8.9, 6.55, 'Feat-D: one head per tap', ha='center', fontsize=7.5, weight='bold')
    for i, tap in enumerate(('layer1', 'layer2', 'layer3')):
        y = 3.97 - i * 0.68
        _box(ax, 8.9, y + 2.1, 3.3, 0.5, f'{tap} head: 1x1 SN conv, 3x3 convs\n-> real/fake logit map', TRAINED,
             size=6)
        _arrow(ax, (6.55, y), (7.25, y + 2.1), color='#1f5fa8')
    ax.text(6.75, 3.1, 'taps', fontsize=6.5, color='#1f5fa8', rotation=55)

    # TG-D with learnable prompt pairs
    _box(ax, 8.6, 0.9, 3.9, 0.8, 'LPP (learnable prompt pair):\n[16 ctx] high quality / [16 ctx] low quality',
         TRAINED, size=6)
    _box(ax, 8.6, 2.55, 2.8, 0.5, 'CLIP text encoder (frozen)', FROZEN, size=6.5)
    _arrow(ax, (8.6, 1.3), (8.6, 2.3))
    _box(ax, 11.3, 1.85, 2.4, 1.0, 'TG-D: cosine of the image\nembedding with pos / neg\ntext -> p_pos', FROZEN,
         size=6)
    _arrow(ax, (10.0, 2.55), (10.2, 2.2))
    _arrow(ax, (6.55, 1.93), (10.2, 1.75), color='#1f5fa8')
    ax.text(7.2, 1.5, 'image embedding', fontsize=6.5, color='#1f5fa8')

    # losses
    _box(ax, 12.6, 6.05, 2.4, 1.35, 'Feat-D loss\nGAN loss at every position,\nmean over taps\nD: HR real, SR fake\n'
         'G: SR real', LOSS, size=6.3)
    _arrow(ax, (10.55, 6.07), (11.4, 6.05))
    _box(ax, 12.9, 3.55, 1.8, 1.1, 'TG-D loss\nD: HR -> pos,\nSR -> neg\nG: SR -> pos', LOSS, size=6.3)
    _arrow(ax, (11.6, 2.35), (12.4, 3.0))
    _box(ax, 3.3, 0.75, 6.2, 0.85, 'generator loss = L1 + VGG perceptual + Feat-D (G) + TG-D (G)\n'
         'SFD-IQA after training: alpha * q_feat + (1 - alpha) * p_pos', LOSS, size=6.5)

    handles = [FancyBboxPatch((0, 0), 1, 1, fc=c, ec='#333333') for c in (FROZEN, TRAINED, DATA, LOSS)]
    ax.legend(handles, ['frozen', 'trained', 'images', 'losses'], loc='upper left', bbox_to_anchor=(0.0, 1.02),
              fontsize=6.5, ncol=4, frameon=False)
    fig.savefig(path, dpi=200, bbox_inches='tight')
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-o', '--output', default='docs/method_figure.png', help='PNG to write')
    args = parser.parse_args(argv)
    print(draw(args.output))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
