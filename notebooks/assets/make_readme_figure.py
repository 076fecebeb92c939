"""Draw the README's picture of RMT: `python notebooks/assets/make_readme_figure.py` writes rmt_diagram.png."""

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from minirmt import viz  # noqa: E402

HERE = Path(__file__).parent


def main() -> None:
    layout = viz.plot_segments(torch.arange(24).view(1, 24), n=8, m=4,
                               title="each segment's input: [read memory | tokens | write memory]")
    unrolled = viz.plot_unrolled(4, None, title="the write outputs become the next segment's memory; "
                                              "gradients flow back through it")
    images = []
    for fig in (layout, unrolled):
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        buffer.seek(0)
        images.append(plt.imread(buffer))
    both, axes = plt.subplots(2, 1, figsize=(8, 4.4), height_ratios=[1, 1.3])
    for ax, image in zip(axes, images):
        ax.imshow(image)
        ax.axis("off")
    both.tight_layout()
    both.savefig(HERE / "rmt_diagram.png", dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
