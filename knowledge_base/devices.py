"""The one place that decides which device and dtype models run on.

Order: an explicit setting, else CUDA (bf16 where the GPU supports it, else fp16), else Apple's
MPS (fp16), else the CPU in fp32 (half precision is slow or unsupported for CPU matmuls).
Nothing else in the code base names a device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DeviceChoice:
    device: str  # a torch device string: "cpu", "cuda", "cuda:1", "mps"
    dtype_name: str  # "float32" | "bfloat16" | "float16"

    @property
    def is_gpu(self) -> bool:
        return self.device != "cpu"

    def torch_dtype(self) -> Any:
        import torch  # imported here: `import chatbot` must not import torch

        return getattr(torch, self.dtype_name)


def resolve_device(setting: str = "auto", dtype: str = "auto") -> DeviceChoice:
    """Pick the device and dtype for `setting` ("auto", "cpu", "cuda", "cuda:N", "mps").

    `dtype` overrides the automatic choice ("float32", "bfloat16", "float16").
    """
    import torch

    setting = (setting or "auto").strip().lower()
    if setting == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    else:
        device = setting
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {setting!r} was asked for, but CUDA is not available here")
    if dtype != "auto":
        return DeviceChoice(device, dtype)
    if device.startswith("cuda"):
        return DeviceChoice(device, "bfloat16" if torch.cuda.is_bf16_supported() else "float16")
    if device == "mps":
        return DeviceChoice(device, "float16")
    return DeviceChoice(device, "float32")
