"""Renders the side-by-side ratios of `cargo xtask bench` as a PNG bar chart.

Usage: chart.py OUT.png "workload=RATIO=TARGET" ...   (TARGET 0 when the workload has none)
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend


def main():
    out = sys.argv[1]
    rows = [arg.rsplit("=", 2) for arg in sys.argv[2:]]
    labels = [label for label, _, _ in rows]
    ratios = [float(ratio) for _, ratio, _ in rows]
    targets = [float(target) for _, _, target in rows]
    figure, axes = plt.subplots(figsize=(10, 0.6 * len(rows) + 1.6))
    positions = range(len(rows))
    colours = ["#2a9d8f" if t == 0 or r >= t else "#e76f51" for r, t in zip(ratios, targets)]
    axes.barh(positions, ratios, color=colours)
    for y, (ratio, target) in enumerate(zip(ratios, targets)):
        axes.text(ratio * 1.05, y, f"{ratio:.1f}x", va="center")
        if target > 0:
            axes.plot([target, target], [y - 0.4, y + 0.4], color="black", linewidth=2)
    axes.set_yticks(list(positions))
    axes.set_yticklabels(labels)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.axvline(1.0, color="grey", linewidth=1, linestyle="--")
    axes.set_xlabel("ours faster by (log scale; black tick: target; red: target missed)")
    axes.set_title("incountry-rs vs the official Python SDK 4.1.0")
    axes.set_xlim(left=min([0.5] + [r / 2 for r in ratios if r > 0]), right=max(ratios + targets) * 3)
    figure.tight_layout()
    figure.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
