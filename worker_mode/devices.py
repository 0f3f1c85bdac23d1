"""The render devices Cycles sees, which of them a worker renders on, and what that says about
the worker (its hardware tags).

Listing needs bpy and runs in the render process (``list_devices``); everything else here is
plain data, so the worker's process, the per-GPU slot planner and the tests use it without
Blender. ``FARMHAND_RENDER_DEVICES`` (a JSON list of devices) replaces what Cycles reports:
the tests inject GPUs that way on machines that have none, and it shows what a GPU farm
would do. Cycles cannot enable an injected device, so a job that asks for the GPU then fails
the way it does on a worker whose GPU stopped working.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

log = logging.getLogger(__name__)

GPU_TYPES = ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL")
"""Cycles compute device types, best first."""

FAKE_DEVICES_ENV = "FARMHAND_RENDER_DEVICES"
"""A JSON list of ``{"type", "name", "id", "memory_mb"}`` used instead of what Cycles lists."""

VRAM_TAG_STEPS_GB = (8, 12, 16, 24, 32, 48, 80)
"""``vram>=Ng`` tags a GPU worker gets: each step its smallest pinned GPU reaches."""

_PCI = re.compile(r"([0-9a-fA-F]{4,8}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})")


@dataclass(frozen=True)
class RenderDevice:
    """One device of one Cycles backend; a GPU shows up once per backend that drives it."""

    type: str
    name: str
    id: str
    memory_mb: int | None = None

    @property
    def is_gpu(self) -> bool:
        return self.type in GPU_TYPES

    def describe(self) -> str:
        memory = f", {self.memory_mb / 1024:.0f} GiB" if self.memory_mb else ""
        return f"{self.name} ({self.type}{memory})"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RenderDevice:
        memory = data.get("memory_mb")
        return cls(
            type=str(data["type"]).upper(),
            name=str(data.get("name") or data["type"]),
            id=str(data.get("id") or f"{data['type']}_{data.get('name', '')}"),
            memory_mb=int(memory) if memory else None,
        )


@dataclass(frozen=True)
class DeviceChoice:
    """What one render process renders on: a GPU type and devices, or the CPU."""

    device: str | None
    """``GPU``, ``CPU``, or None for what each file says."""
    gpu_type: str | None = None
    gpus: tuple[RenderDevice, ...] = ()


@dataclass(frozen=True)
class Slot:
    """One worker of a machine (``--slots per-gpu``): its name suffix and its device."""

    suffix: str
    device: str
    pins: list[int] | None = None
    """The GPU it renders on, as ``--devices`` counts; None for the CPU slot."""


class DeviceError(ValueError):
    """The devices asked for are not there; the message says what is."""


def gpus_of_best_type(devices: list[RenderDevice]) -> tuple[str | None, list[RenderDevice]]:
    """The best GPU backend with any device (OptiX before CUDA...) and its devices, in
    Cycles' order: ``--devices`` counts in this list."""
    for gpu_type in GPU_TYPES:
        found = [d for d in devices if d.type == gpu_type]
        if found:
            return gpu_type, found
    return None, []


def choose(devices: list[RenderDevice], *, gpu: bool, pins: list[int] | None) -> DeviceChoice:
    """The devices ``--gpu`` / ``--devices 0,2`` / ``--cpu`` ask for. Raises DeviceError."""
    if pins is not None or gpu:
        gpu_type, gpus = gpus_of_best_type(devices)
        if gpu_type is None:
            raise DeviceError("Cycles reports no usable GPU (OptiX, CUDA, HIP, oneAPI, Metal)")
        if pins is not None:
            wrong = [i for i in pins if not 0 <= i < len(gpus)]
            if wrong:
                raise DeviceError(
                    f"--devices {','.join(map(str, pins))}: no GPU {wrong[0]}; this machine has "
                    + "; ".join(f"{i}: {d.describe()}" for i, d in enumerate(gpus))
                )
            gpus = [gpus[i] for i in dict.fromkeys(pins)]
        return DeviceChoice("GPU", gpu_type, tuple(gpus))
    return DeviceChoice(None)


def plan_slots(
    devices: list[RenderDevice], *, pins: list[int] | None, cpu_slot: bool
) -> list[Slot]:
    """``--slots per-gpu``: one worker per GPU (of ``pins`` when given), each with its own
    render process on that device, and a CPU worker after them when asked for."""
    choice = choose(devices, gpu=True, pins=pins)
    all_gpus = gpus_of_best_type(devices)[1]
    slots = []
    for gpu in choice.gpus:
        index = all_gpus.index(gpu)
        slots.append(Slot(f"gpu{index}", "GPU", [index]))
    if cpu_slot:
        slots.append(Slot("cpu", "CPU"))
    return slots


def hardware_tags(device: str | None, gpu_type: str | None, gpus: list[RenderDevice]) -> list[str]:
    """Tags a job can ask for: ``gpu``, the backend (``optix`` also counts as ``cuda``) and
    ``vram>=Ng`` for the smallest of its GPUs; ``cpu`` for a worker that renders on the CPU."""
    if device == "GPU" and gpus and gpu_type:
        tags = ["gpu", gpu_type.lower()]
        if gpu_type == "OPTIX":
            tags.append("cuda")
        memories = [d.memory_mb for d in gpus]
        if all(memories):
            smallest_gb = min(m for m in memories if m) / 1024
            # Cards sold as "24 GB" report a little less than 24 GiB usable.
            tags += [f"vram>={step}g" for step in VRAM_TAG_STEPS_GB if smallest_gb >= step * 0.94]
        return tags
    if device == "CPU":
        return ["cpu"]
    return []


def hardware_report(hello: dict[str, Any], device: str | None) -> dict[str, Any]:
    """What a worker tells the manager at sign-on of its hardware, from its render process's
    hello: every device Cycles lists, what it renders on (GPU, CPU, or FILE: as each file
    says), the GPUs it has enabled, and its hardware tags."""
    listed = devices_from_json(hello.get("devices"))
    chosen_ids = list(hello.get("gpu_ids") or [])
    gpus = [d for d in listed if d.id in chosen_ids]
    gpu_type = gpus[0].type if gpus else None
    rendering_on = device or "FILE"
    return {
        "devices": [d.as_json() for d in listed],
        "render_device": rendering_on,
        "gpus": [d.as_json() for d in gpus],
        "gpus_enabled": bool(hello.get("active_gpu_ids")),
        # A worker that renders as each file says renders GPU files on its GPUs.
        "tags": hardware_tags("GPU" if gpus else rendering_on, gpu_type, gpus),
    }


def parse_pins(text: str | None) -> list[int] | None:
    """``--devices 0,2`` as indexes; None when not given. Raises DeviceError."""
    if text is None:
        return None
    try:
        pins = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise DeviceError(f"--devices {text!r}: give GPU numbers, e.g. 0,2") from None
    if not pins:
        raise DeviceError("--devices: give GPU numbers, e.g. 0,2")
    return pins


def devices_from_json(data: Any) -> list[RenderDevice]:
    if not isinstance(data, list):
        return []
    return [RenderDevice.from_json(item) for item in data if isinstance(item, dict)]


def injected_devices() -> list[RenderDevice] | None:
    """The device list of ``FARMHAND_RENDER_DEVICES``, when set."""
    raw = os.environ.get(FAKE_DEVICES_ENV)
    if not raw:
        return None
    try:
        return devices_from_json(json.loads(raw))
    except (ValueError, KeyError) as exc:
        raise DeviceError(f"{FAKE_DEVICES_ENV}: not a JSON list of devices ({exc})") from None


# -- in the render process (bpy) ---------------------------------------------------------------


def list_devices(prefs: Any) -> list[RenderDevice]:
    """Every device of every GPU backend Cycles offers, then the CPU; memory where the
    driver's tool tells it (Cycles does not)."""
    injected = injected_devices()
    if injected is not None:
        return injected
    devices: list[RenderDevice] = []
    cpu: RenderDevice | None = None
    original = prefs.compute_device_type
    for gpu_type in GPU_TYPES:
        try:
            prefs.compute_device_type = gpu_type
        except TypeError:
            continue  # This Blender build has no such backend.
        prefs.get_devices_for_type(gpu_type)
        for d in prefs.devices:
            if d.type == gpu_type:
                devices.append(RenderDevice(gpu_type, d.name, d.id))
            elif d.type == "CPU" and cpu is None:
                cpu = RenderDevice("CPU", d.name, d.id)
    try:
        prefs.compute_device_type = original
    except TypeError:
        pass
    memory = nvidia_memory_mb() if any(d.type in ("CUDA", "OPTIX") for d in devices) else {}
    with_memory = []
    for d in devices:
        location = pci_location(d.id) if d.type in ("CUDA", "OPTIX") else None
        size = memory.get(location) if location else None
        with_memory.append(RenderDevice(d.type, d.name, d.id, size) if size else d)
    return with_memory + ([cpu] if cpu else [])


def pin(prefs: Any, choice: DeviceChoice) -> list[str]:
    """Enable exactly the chosen GPUs in Cycles' preferences; the ids Cycles has enabled.

    An id Cycles does not list (a GPU gone since the worker started, an injected one) is not
    enabled: the render process then reports no active GPU, and a job that asked for the GPU
    fails instead of rendering on the CPU.
    """
    if choice.device != "GPU" or not choice.gpu_type:
        return []
    try:
        prefs.compute_device_type = choice.gpu_type
    except TypeError:
        return []
    prefs.get_devices_for_type(choice.gpu_type)
    wanted = {d.id for d in choice.gpus}
    enabled = []
    for d in prefs.devices:
        d.use = d.type == choice.gpu_type and d.id in wanted
        if d.use:
            enabled.append(d.id)
    if not enabled:
        prefs.compute_device_type = "NONE"
    return enabled


def pci_location(device_id: str) -> tuple[int, int, int] | None:
    """Domain, bus and device of a Cycles device id (``CUDA_<name>_0000:01:00``)."""
    found = _PCI.findall(device_id)
    if not found:
        return None
    domain, bus, dev = found[-1]
    return int(domain, 16), int(bus, 16), int(dev, 16)


def nvidia_memory_mb() -> dict[tuple[int, int, int], int]:
    """Total memory of each NVIDIA GPU by PCI location, from ``nvidia-smi``; empty without it."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return {}
    try:
        out = subprocess.run(
            [tool, "--query-gpu=pci.bus_id,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("nvidia-smi gave no memory sizes: %s", exc)
        return {}
    return parse_nvidia_smi(out)


def parse_nvidia_smi(out: str) -> dict[tuple[int, int, int], int]:
    memory: dict[tuple[int, int, int], int] = {}
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2:
            continue
        location = pci_location(parts[0])
        try:
            if location is not None:
                memory[location] = int(float(parts[1]))
        except ValueError:
            continue
    return memory
