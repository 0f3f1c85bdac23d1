"""Render devices without a GPU: the device list is given, as ``FARMHAND_RENDER_DEVICES``
gives it to a real worker."""

from __future__ import annotations

import pytest

from worker_mode import devices
from worker_mode.assembly import WorkerConfig, slot_configs
from worker_mode.devices import DeviceError, RenderDevice

GIB = 1024


def box() -> list[RenderDevice]:
    """Three NVIDIA GPUs, as Cycles lists them under OptiX and CUDA, and the CPU."""
    gpus = [("RTX 4090", "0000:01:00", 24 * GIB - 300), ("RTX 4090", "0000:02:00", 24 * GIB - 300),
            ("RTX 3060", "0000:03:00", 12 * GIB - 200)]
    listed = [RenderDevice(kind, name, f"{kind}_{name}_{pci}", memory)
              for kind in ("OPTIX", "CUDA") for name, pci, memory in gpus]
    return [*listed, RenderDevice("CPU", "AMD EPYC", "CPU")]


def test_gpu_picks_the_best_type_and_all_its_devices() -> None:
    choice = devices.choose(box(), gpu=True, pins=None)
    assert choice.device == "GPU" and choice.gpu_type == "OPTIX"
    assert [d.id for d in choice.gpus] == [
        "OPTIX_RTX 4090_0000:01:00", "OPTIX_RTX 4090_0000:02:00", "OPTIX_RTX 3060_0000:03:00"]


def test_devices_pins_gpus_by_number() -> None:
    choice = devices.choose(box(), gpu=False, pins=[0, 2])
    assert choice.device == "GPU"
    assert [d.name for d in choice.gpus] == ["RTX 4090", "RTX 3060"]


def test_a_gpu_that_is_not_there_is_named_with_what_is() -> None:
    with pytest.raises(DeviceError, match=r"no GPU 5; this machine has 0: RTX 4090 \(OPTIX"):
        devices.choose(box(), gpu=True, pins=[0, 5])
    with pytest.raises(DeviceError, match="no usable GPU"):
        devices.choose([RenderDevice("CPU", "AMD EPYC", "CPU")], gpu=True, pins=None)


@pytest.mark.parametrize("text, pins", [(None, None), ("0,2", [0, 2]), (" 1 ", [1])])
def test_parse_pins(text: str | None, pins: list[int] | None) -> None:
    assert devices.parse_pins(text) == pins


@pytest.mark.parametrize("text", ["a,b", "", ","])
def test_bad_pins_are_refused(text: str) -> None:
    with pytest.raises(DeviceError):
        devices.parse_pins(text)


def test_hardware_tags_say_type_and_memory_of_the_smallest_gpu() -> None:
    listed = box()
    both = devices.choose(listed, gpu=True, pins=[0, 1])
    assert devices.hardware_tags("GPU", both.gpu_type, list(both.gpus)) == [
        "gpu", "optix", "cuda", "vram>=8g", "vram>=12g", "vram>=16g", "vram>=24g"]
    mixed = devices.choose(listed, gpu=True, pins=None)
    assert devices.hardware_tags("GPU", mixed.gpu_type, list(mixed.gpus))[-1] == "vram>=12g"
    unknown = [RenderDevice("HIP", "RX 7900", "HIP_1")]
    assert devices.hardware_tags("GPU", "HIP", unknown) == ["gpu", "hip"]
    assert devices.hardware_tags("CPU", None, []) == ["cpu"]
    assert devices.hardware_tags(None, None, []) == []


def test_per_gpu_slots_each_get_one_gpu_and_the_cpu_slot_comes_last(tmp_path) -> None:
    config = WorkerConfig("http://farm:8080", "box", tmp_path, device="GPU", pins=[0, 2],
                          per_gpu=True, cpu_slot=True)
    slots = slot_configs(config, box())
    assert [(s.name, s.device, s.pins) for s in slots] == [
        ("box-gpu0", "GPU", [0]), ("box-gpu2", "GPU", [2]), ("box-cpu", "CPU", None)]
    # Each slot is a worker of its own: its own credentials and file cache.
    assert len({s.data_dir for s in slots}) == 3
    assert all(s.data_dir.parent == tmp_path / "slots" for s in slots)
    assert not any(s.can_restart or s.per_gpu for s in slots)


def test_per_gpu_slots_on_a_machine_without_gpu_are_refused(tmp_path) -> None:
    config = WorkerConfig("http://farm:8080", "box", tmp_path, device="GPU", per_gpu=True)
    with pytest.raises(DeviceError, match="no usable GPU"):
        slot_configs(config, [RenderDevice("CPU", "AMD EPYC", "CPU")])


def test_hardware_report_from_the_render_process_hello() -> None:
    listed = box()
    hello = {
        "devices": [d.as_json() for d in listed],
        "gpu": ["OPTIX", ["RTX 3060"]],
        "gpu_ids": ["OPTIX_RTX 3060_0000:03:00"],
        "active_gpu_ids": [],
    }
    report = devices.hardware_report(hello, "GPU")
    assert report["render_device"] == "GPU" and not report["gpus_enabled"]
    assert [g["name"] for g in report["gpus"]] == ["RTX 3060"]
    assert report["tags"] == ["gpu", "optix", "cuda", "vram>=8g", "vram>=12g"]
    cpu = devices.hardware_report({"devices": [listed[-1].as_json()]}, "CPU")
    assert cpu["tags"] == ["cpu"] and cpu["gpus"] == []
    # Without --gpu or --cpu: files say where, and those that ask for the GPU get it.
    as_file_says = devices.hardware_report(hello, None)
    assert as_file_says["render_device"] == "FILE" and as_file_says["tags"][:2] == ["gpu", "optix"]
    no_gpu = devices.hardware_report({"devices": [listed[-1].as_json()]}, None)
    assert no_gpu["render_device"] == "FILE" and no_gpu["tags"] == []


def test_gpu_memory_comes_from_nvidia_smi_by_pci_location() -> None:
    out = "00000000:01:00.0, 24564\n00000000:03:00.0, 12288\nnot a line\n"
    memory = devices.parse_nvidia_smi(out)
    assert memory[devices.pci_location("CUDA_NVIDIA GeForce RTX 4090_0000:01:00")] == 24564
    assert memory[devices.pci_location("OPTIX_RTX 3060_0000:03:00")] == 12288
    assert devices.pci_location("METAL_Apple M2") is None


def test_injected_devices_are_read_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv(devices.FAKE_DEVICES_ENV,
                       '[{"type": "cuda", "name": "A100", "id": "CUDA_A100_0000:41:00", '
                       '"memory_mb": 81920}]')
    (only,) = devices.injected_devices() or []
    assert only == RenderDevice("CUDA", "A100", "CUDA_A100_0000:41:00", 81920)
    monkeypatch.setenv(devices.FAKE_DEVICES_ENV, "{not json")
    with pytest.raises(DeviceError):
        devices.injected_devices()
