"""The one place that decides which device and dtype models run on.

Order: an explicit setting, else CUDA (bf16 where the GPU supports it, else fp16), else Apple's
MPS (fp16), else the CPU in fp32 (half precision is slow or unsupported for CPU matmuls).
Nothing else in the code base names a device.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_DEVICE_SETTING = re.compile(r"^(auto|cpu|mps|cuda(:[0-9]+)?)$")
_DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class DeviceChoice:
    """Where a model runs and in which float type; `torch_dtype()` gives the torch object."""

    device: str  # a torch device string: "cpu", "cuda", "cuda:1", "mps"
    dtype_name: str  # "float32" | "bfloat16" | "float16"

    @property
    def is_gpu(self) -> bool:
        return self.device != "cpu"

    @property
    def is_cuda(self) -> bool:
        """Whether the model runs on an NVIDIA GPU (CUDA graphs, bf16 autocast)."""
        return is_cuda(self.device)

    def torch_dtype(self) -> Any:
        import torch  # imported here: `import chatbot` must not import torch

        return getattr(torch, self.dtype_name)


def is_cuda(device: Any) -> bool:
    """Whether `device` (a torch device string, a `torch.device`, or a model's `.device`) is a
    CUDA device: for the code that switches on a CUDA-only feature without naming the device.

        >>> is_cuda("cuda:1"), is_cuda("cpu")
        (True, False)
    """
    kind = getattr(device, "type", None) or str(device)
    return kind.split(":")[0] == "cuda"


def resolve_device(setting: str = "auto", dtype: str = "auto") -> DeviceChoice:
    """Pick the device and dtype for `setting` ("auto", "cpu", "cuda", "cuda:N", "mps").

    `dtype` overrides the automatic choice ("float32", "bfloat16", "float16"). The embedder, its
    tuning and the local generator all call this. ValueError for a setting that names no device,
    RuntimeError for a device this machine does not have.

        >>> resolve_device("cpu")
        DeviceChoice(device='cpu', dtype_name='float32')
    """
    import torch

    setting = (setting or "auto").strip().lower()
    if not _DEVICE_SETTING.match(setting):
        raise ValueError(f"device {setting!r} is not one of 'auto', 'cpu', 'mps', 'cuda' or 'cuda:N'")
    if dtype not in _DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(_DTYPES)}")
    if setting == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif _mps_available(torch):
            device = "mps"
        else:
            device = "cpu"
    else:
        device = setting
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {setting!r} was asked for, but CUDA is not available here")
        if device.startswith("cuda:") and int(device[5:]) >= torch.cuda.device_count():
            raise RuntimeError(f"device {setting!r} was asked for, but this machine has "
                               f"{torch.cuda.device_count()} CUDA device(s)")
        if device == "mps" and not _mps_available(torch):
            raise RuntimeError("device 'mps' was asked for, but Apple's MPS is not available here")
    if dtype != "auto":
        return DeviceChoice(device, dtype)
    if device.startswith("cuda"):
        return DeviceChoice(device, "bfloat16" if torch.cuda.is_bf16_supported() else "float16")
    if device == "mps":
        return DeviceChoice(device, "float16")
    return DeviceChoice(device, "float32")


def _mps_available(torch: Any) -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
