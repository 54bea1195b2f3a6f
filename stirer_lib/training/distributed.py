"""torchrun / DistributedDataParallel plumbing: one process per device, gloo on CPU, nccl on CUDA."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: rank, world size, its device, and whether it set up a group."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True when torchrun (or another launcher) set WORLD_SIZE > 1."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str | torch.device | None = None) -> DistInfo:
    """Join the process group torchrun describes (env://), or run alone when there is none."""
    want = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not launched_by_torchrun():
        if dist.is_available() and dist.is_initialized():  # a caller set the group up already
            return _info(want, initialized_here=False)
        return DistInfo(device=want)
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    if not dist.is_initialized():
        backend = "nccl" if want.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        return _info(want, initialized_here=True)
    return _info(want, initialized_here=False)


def _info(want: torch.device, initialized_here: bool) -> DistInfo:
    rank, world = dist.get_rank(), dist.get_world_size()
    local = int(os.environ.get("LOCAL_RANK", rank))
    if want.type == "cuda":
        want = torch.device("cuda", local % torch.cuda.device_count())
        torch.cuda.set_device(want)
    return DistInfo(rank=rank, world=world, local_rank=local, device=want, initialized_here=initialized_here)


def teardown(info: DistInfo) -> None:
    """Leave the process group if this module created it."""
    if info.initialized_here and dist.is_initialized():
        dist.destroy_process_group()


def any_true(flags: list[bool], info: DistInfo) -> list[bool]:
    """Element-wise OR of boolean flags over all ranks (one all_reduce)."""
    if info.world == 1:
        return flags
    t = torch.tensor([float(f) for f in flags], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def gather_objects(obj: object, info: DistInfo) -> list[object]:
    """Every rank's obj, in rank order (a list of one without a group)."""
    if info.world == 1:
        return [obj]
    out: list[object] = [None] * info.world
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op alone)."""
    if info.world > 1:
        dist.barrier()


def broadcast_object(obj: object, info: DistInfo) -> object:
    """Rank 0's obj on every rank."""
    if info.world == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
