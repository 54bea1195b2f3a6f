"""The data order: a deterministic function of (seed, epoch), sharded over ranks like DistributedSampler.

Resuming needs no saved sampler state: the epoch's permutation is recomputed from (seed, epoch)
and the batches already seen are skipped by index (their images are never decoded).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Subset


def epoch_seed(seed: int, epoch: int, salt: int = 0) -> int:
    """A 31-bit seed derived from (seed, epoch, salt)."""
    return int(np.random.SeedSequence([seed, epoch, salt]).generate_state(1)[0] & 0x7FFFFFFF)


def epoch_permutation(n: int, seed: int, epoch: int) -> list[int]:
    """The order of all n samples in this epoch (same on every rank)."""
    g = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    return torch.randperm(n, generator=g).tolist()


class EpochBatchSampler:
    """Batches of indices for one rank and one epoch, starting at batch `start`.

    Like DistributedSampler: the permutation is padded by wrapping to a multiple of the world
    size and rank r takes every world-th index from r. Each rank gets
    steps_per_epoch = max(1, ceil(n / world) // batch_size) full batches (the rest is dropped,
    except that a set smaller than one batch gives one short batch).
    """

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1, start: int = 0):
        if n <= 0:
            raise ValueError("the training set is empty: nothing to sample")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, epoch
        self.rank, self.world, self.start = rank, world, start

    @staticmethod
    def steps_per_epoch(n: int, batch_size: int, world: int = 1) -> int:
        """Optimiser steps in one pass over the data."""
        return max(1, math.ceil(n / world) // batch_size)

    def _shard(self) -> list[int]:
        order = epoch_permutation(self.n, self.seed, self.epoch)
        per_rank = math.ceil(self.n / self.world)
        padded = (order * math.ceil(per_rank * self.world / self.n))[: per_rank * self.world]
        return padded[self.rank :: self.world]

    def __iter__(self) -> Iterator[list[int]]:
        shard, b = self._shard(), self.batch_size
        for k in range(self.start, len(self)):
            yield shard[k * b : (k + 1) * b]

    def __len__(self) -> int:
        return self.steps_per_epoch(self.n, self.batch_size, self.world)


def set_epoch_seed(dataset: Dataset, seed: int, epoch: int) -> int:
    """Give every LMDB set under `dataset` the per-index augmentation seed of (seed, epoch).

    The data sets draw their random LR degradation from default_rng([dataset.seed, index]),
    so fixing dataset.seed per epoch makes the pictures of an epoch reproducible on resume
    (and new in each epoch). Returns how many sets were seeded.
    """
    if isinstance(dataset, ConcatDataset):
        return sum(set_epoch_seed(d, seed, epoch) for d in dataset.datasets)
    if isinstance(dataset, Subset):
        return set_epoch_seed(dataset.dataset, seed, epoch)
    if hasattr(dataset, "seed") and hasattr(dataset, "rng"):
        dataset.seed = epoch_seed(seed, epoch, salt=1)
        return 1
    return 0
