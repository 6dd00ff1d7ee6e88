"""Pick a bank entry per frame by inner-lip shape, smoothly over time (Viterbi over the best candidates).

The shape cost of entry e for a target descriptor d is the mean squared
distance of their descriptors over `SIGMA`²: about 1 for a close match,
plus `LIPS` times the entry's `lip_share` (an entry that shows its own lip
where teeth and cavity should be pastes a second lip inside the first).
Moving from entry a to entry b costs nothing when b is a or the frame
filmed right after a, `NEAR` when b was filmed within three frames of a in
the same clip, and `SWITCH` plus a teeth term (how different their shares
of visible teeth are) otherwise. `retrieve` runs the Viterbi recursion over
the whole sequence and backtracks; `OnlineRetriever` runs the same
recursion forward one frame at a time and takes each frame's best state
(no look-ahead), for renderers that draw frame by frame.
"""

from __future__ import annotations

import numpy as np

SIGMA = 0.03      # mouth widths: a typical descriptor difference of a good match
NEAR = 0.4
SWITCH = 1.5
TEETH = 2.0       # per unit difference in teeth share, on a switch
# Per unit difference between an entry's teeth share and the target's (when one is given: the photo shows its
# mouth open). Large, so the photo's own teeth (or their absence) win over a closer shape, which the paste warps
# to the target contour anyway; chosen on dev (4 -> 50: PSNR 23.99 -> 24.38, inner-mouth error 52.6 -> 46.9).
TEETH_MATCH = 50.0
LIPS = 3.0        # per unit of an entry's lip share
OTHERS = 2.0      # for an entry that is not the person's own, when the person's own mouths are in the bank
K = 12


def entry_prior(bank, own: np.ndarray | None = None) -> np.ndarray:
    """Per-entry cost (N,) that does not depend on the target: `LIPS` times the entry's lip share, plus
    `OTHERS` for every entry not marked in `own` (a boolean mask of the person's own mouths) when given."""
    prior = np.float32(LIPS) * bank.lips
    if own is not None:
        prior = prior + np.where(own, 0.0, OTHERS).astype(np.float32)
    return prior.astype(np.float32)


def _shape_costs(bank, d: np.ndarray, teeth: float | None = None, prior: np.ndarray | None = None) -> np.ndarray:
    """Shape cost of every entry for target descriptor `d`, plus `TEETH_MATCH` times the difference of
    the entry's teeth share from `teeth` (the share the target should show) when that is given, plus
    `prior` (per entry, see `entry_prior`; default: `entry_prior(bank)`)."""
    diff = bank.descriptors - np.asarray(d, np.float32)[None]
    cost = (diff * diff).mean(1) / SIGMA ** 2
    cost = cost + (entry_prior(bank) if prior is None else prior)
    if teeth is not None and TEETH_MATCH:
        cost = cost + np.float32(TEETH_MATCH) * np.abs(bank.teeth - np.float32(teeth))
    return cost


def _transition(bank, prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """(len(prev), len(cur)) switching costs."""
    same_clip = bank.clip[prev][:, None] == bank.clip[cur][None]
    step = bank.frame[cur][None].astype(np.int64) - bank.frame[prev][:, None]
    t = SWITCH + TEETH * np.abs(bank.teeth[prev][:, None] - bank.teeth[cur][None])
    t = np.where(same_clip & (np.abs(step) <= 3), NEAR, t)
    t = np.where((prev[:, None] == cur[None]) | (same_clip & (step == 1)), 0.0, t)
    return t


def _candidates(costs: np.ndarray, k: int, extra: np.ndarray | None = None) -> np.ndarray:
    k = min(k, costs.size)
    idx = np.argpartition(costs, k - 1)[:k]
    if extra is not None and extra.size:
        # Staying on an entry, or going on to its next filmed frame, must stay possible.
        idx = np.unique(np.concatenate([idx, extra]))
    return idx


def retrieve(bank, targets: np.ndarray, k: int = K, teeth: float | None = None,
             prior: np.ndarray | None = None) -> np.ndarray:
    """Entry index per frame for target descriptors (frames, 36) (see `descriptor`): a full Viterbi path.

    `teeth`: the share of visible teeth to prefer (see `_shape_costs`), or None for shape alone; `prior`:
    per-entry costs (`entry_prior`)."""
    if prior is None:
        prior = entry_prior(bank)
    targets = np.asarray(targets, np.float32)
    n = targets.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    states, backs = [], []
    costs = _shape_costs(bank, targets[0], teeth, prior)
    cand = _candidates(costs, k)
    acc = costs[cand]
    states.append(cand)
    for t in range(1, n):
        costs = _shape_costs(bank, targets[t], teeth, prior)
        prev = states[-1]
        nxt = np.clip(prev + 1, 0, len(bank) - 1)
        cand = _candidates(costs, k, np.concatenate([prev, nxt]))
        total = acc[:, None] + _transition(bank, prev, cand)
        back = total.argmin(0)
        acc = total[back, np.arange(cand.size)] + costs[cand]
        acc -= acc.min()
        keep = np.argsort(acc)[: 2 * k]          # prune, so the state set stays small
        acc = acc[keep]
        states.append(cand[keep])
        backs.append(back[keep])
    path = np.zeros(n, np.int64)
    j = int(acc.argmin())
    for t in range(n - 1, -1, -1):
        path[t] = states[t][j]
        if t:
            j = int(backs[t - 1][j])
    return path


class OnlineRetriever:
    """The Viterbi recursion of `retrieve`, one frame at a time, answering each frame's best state."""

    def __init__(self, bank, k: int = K, teeth: float | None = None, prior: np.ndarray | None = None):
        self.bank, self.k, self.teeth = bank, k, teeth
        self.prior = entry_prior(bank) if prior is None else prior
        self.states: np.ndarray | None = None
        self.acc: np.ndarray | None = None

    def reset(self) -> None:
        self.states = self.acc = None

    def step(self, target: np.ndarray) -> int:
        costs = _shape_costs(self.bank, target, self.teeth, self.prior)
        if self.states is None:
            cand = _candidates(costs, self.k)
            acc = costs[cand]
        else:
            prev = self.states
            nxt = np.clip(prev + 1, 0, len(self.bank) - 1)
            cand = _candidates(costs, self.k, np.concatenate([prev, nxt]))
            total = self.acc[:, None] + _transition(self.bank, prev, cand)
            acc = total.min(0) + costs[cand]
        acc = acc - acc.min()
        # Keep the state set small: the best k by accumulated cost.
        keep = np.argsort(acc)[: self.k]
        self.states, self.acc = cand[keep], acc[keep]
        return int(self.states[0])
