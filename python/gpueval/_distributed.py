"""Joining the ranks of a torch.distributed job: every rank's state, gathered and merged in rank
order, so that every rank holds bitwise the same report.

Two collectives per sync, whatever the number of metrics: an all_gather of each rank's payload
size, then one of the payloads padded to the longest (uint8 tensors, on the current CUDA device
under NCCL). A payload is a short JSON header (the rank's spec and device, or the error that
stopped it) followed by the rank's state blob, which may be empty: a rank that saw no batch
contributes nothing and nothing hangs. Every check that can fail happens after the collectives,
on every rank alike, so ranks that disagree all raise instead of some waiting forever.
"""

from __future__ import annotations

import json
import struct
import sys
from typing import Any, List, Optional, Tuple

_MAGIC = b"GPUEVRK1"


def _dist():
    """torch.distributed when a process group is up; None otherwise. Never imports torch: a
    program that has not imported it cannot have a process group."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return dist


def world_size(group: Any) -> int:
    """The number of ranks compute() joins by default: 1 without a process group."""
    dist = _dist()
    return 1 if dist is None else dist.get_world_size(group)


def _pack(header: dict, state: Optional[bytes]) -> bytes:
    head = json.dumps(header, sort_keys=True).encode()
    return _MAGIC + struct.pack("<I", len(head)) + head + (state or b"")


def _unpack(payload: bytes, rank: int) -> Tuple[dict, Optional[bytes]]:
    if payload[:8] != _MAGIC:
        raise RuntimeError(f"gpueval: rank {rank} sent a payload that is not gpueval's "
                           "(is every rank running the same gpueval?)")
    (n,) = struct.unpack("<I", payload[8:12])
    header = json.loads(payload[12:12 + n].decode())
    state = payload[12 + n:]
    return header, (state if state else None)


def gather(header: dict, state: Optional[bytes], group: Any) -> List[Tuple[dict, Optional[bytes]]]:
    """Every rank's (header, state), in rank order."""
    dist = _dist()
    import torch

    if dist.get_backend(group) == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    else:
        device = torch.device("cpu")
    payload = _pack(header, state)
    world = dist.get_world_size(group)
    size = torch.tensor([len(payload)], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size, group=group)
    sizes = [int(s.item()) for s in sizes]
    longest = max(sizes)
    mine = torch.zeros(longest, dtype=torch.uint8)
    mine[:len(payload)] = torch.frombuffer(bytearray(payload), dtype=torch.uint8)
    mine = mine.to(device)
    gathered = [torch.empty(longest, dtype=torch.uint8, device=device) for _ in range(world)]
    dist.all_gather(gathered, mine, group=group)
    return [_unpack(bytes(g[:n].cpu().numpy()), r)
            for r, (g, n) in enumerate(zip(gathered, sizes))]


def check(parts: List[Tuple[dict, Optional[bytes]]]) -> None:
    """Raises, on every rank alike, when a rank failed before the gather or when the ranks'
    specs differ (naming the ranks and the fields)."""
    for rank, (header, _) in enumerate(parts):
        if "error" in header:
            raise RuntimeError(f"gpueval: rank {rank} could not contribute its state: "
                               f"{header['error']}")
    first = parts[0][0]["spec"]
    for rank, (header, _) in enumerate(parts[1:], start=1):
        spec = header["spec"]
        diff = [f"{k}: {spec.get(k)!r} on rank {rank}, {first.get(k)!r} on rank 0"
                for k in sorted(set(first) | set(spec)) if spec.get(k) != first.get(k)]
        if diff:
            raise ValueError("gpueval: the ranks' evaluators differ, so their states cannot be "
                             "joined: " + "; ".join(diff))


def device_label(parts: List[Tuple[dict, Optional[bytes]]]) -> str:
    """'3 ranks: cpu (2 threads)' or '8 ranks: cuda:0, cuda:1, ...': the same on every rank."""
    seen: List[str] = []
    for header, _ in parts:
        if header["device"] not in seen:
            seen.append(header["device"])
    return f"{len(parts)} ranks: " + ", ".join(seen)
