"""Plots that say more than a table: search curves, regret, predicted-vs-true scatter."""

from __future__ import annotations

import pathlib
from typing import Mapping, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; works on machines without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_search_curves(
    curves: Mapping[str, np.ndarray],
    path: str | pathlib.Path,
    title: str = "",
    ylabel: str = "best reported accuracy (%)",
    optimum: Optional[float] = None,
) -> None:
    """Mean ± std over seeds of best-so-far curves, one line per algorithm.

    curves: name -> float[S, budget] (best-so-far value after 1..budget queries).
    With ``optimum`` a second panel shows the regret on a log scale.
    """
    panels = 2 if optimum is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    for name, curve in curves.items():
        curve = np.asarray(curve, np.float64)
        queries = np.arange(1, curve.shape[1] + 1)
        mean = np.nanmean(curve, axis=0)
        std = np.nanstd(curve, axis=0)
        label = f"{name} ({curve.shape[0]} seeds)"
        axes[0, 0].plot(queries, mean, label=label)
        axes[0, 0].fill_between(queries, mean - std, mean + std, alpha=0.2)
        if optimum is not None:
            regret = np.nanmean(optimum - curve, axis=0)
            axes[0, 1].plot(queries, np.maximum(regret, 1e-4), label=label)
    axes[0, 0].set_xlabel("queries")
    axes[0, 0].set_ylabel(ylabel)
    axes[0, 0].set_title(title)
    axes[0, 0].legend()
    if optimum is not None:
        axes[0, 0].axhline(optimum, color="gray", linestyle=":", linewidth=1)
        axes[0, 1].set_yscale("log")
        axes[0, 1].set_xlabel("queries")
        axes[0, 1].set_ylabel("mean regret (optimum - found)")
        axes[0, 1].set_title("regret")
        axes[0, 1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_predicted_vs_true(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    path: str | pathlib.Path,
    title: str = "",
    highlight: Optional[Sequence[int]] = None,
) -> None:
    """Scatter of predicted scores against true accuracies (training points highlighted)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(y_true, y_pred, s=2, alpha=0.3, label="evaluated")
    if highlight is not None and len(highlight):
        highlight = np.asarray(highlight)
        ax.scatter(np.asarray(y_true)[highlight], np.asarray(y_pred)[highlight], s=8, color="red", label="training")
    ax.set_xlabel("true accuracy (%)")
    ax.set_ylabel("predicted score")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
