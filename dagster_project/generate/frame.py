"""A feed-month's rows as typed numpy columns, before they become text.

Conventions: timestamps are int64 epoch seconds (`NAT` = null), dates int64
local day numbers (`NAT` = null), decimals float64 (NaN = null), codes and
vocabulary columns int indices (-1 = null), ids int64 (-1 = null), booleans
bool. Columns whose name starts with `_` are the generator's own (not written).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass
class Frame:
    cols: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.cols.values()))) if self.cols else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]

    def __setitem__(self, name: str, values: np.ndarray) -> None:
        self.cols[name] = values

    def __contains__(self, name: str) -> bool:
        return name in self.cols

    def take(self, idx: np.ndarray) -> "Frame":
        return Frame({k: v[idx] for k, v in self.cols.items()})

    def slice(self, lo: int, hi: int) -> "Frame":
        return Frame({k: v[lo:hi] for k, v in self.cols.items()})

    @staticmethod
    def concat(frames: Iterable["Frame"]) -> "Frame":
        frames = [f for f in frames if f.cols]
        if not frames:
            return Frame({})
        names = list(frames[0].cols)
        return Frame({k: np.concatenate([f.cols[k] for f in frames]) for k in names})
