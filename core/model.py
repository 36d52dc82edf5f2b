"""The one model factory, used by training, evaluation and serving."""

from __future__ import annotations

import timm
import torch
import torch.nn.functional as F
from torch import nn

from core.labels import NUM_CLASSES
from core.preprocess import INPUT_SIZE

ARCHITECTURE = "efficientnet_b2"


class UpsamplingConv2d(nn.Conv2d):
    """A convolution that first resizes its input to ``size`` x ``size`` (bilinear).

    It replaces the stem so the network can work at more than FER-2013's 48 px
    (at 48 px the last stage is 2x2) while every caller still feeds 48 px faces:
    preprocessing, ONNX export and Grad-CAM stay unchanged, and the state-dict
    keys are timm's own.
    """

    def __init__(self, conv: nn.Conv2d, size: int) -> None:
        super().__init__(
            conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
            padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None,
        )  # fmt: skip
        self.size = size
        self.load_state_dict(conv.state_dict())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return super().forward(x)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, upsample_to={self.size}"


def create_model(
    num_classes: int = NUM_CLASSES,
    drop_rate: float = 0.3,
    drop_path_rate: float = 0.1,
    zero_head: bool = True,
    network_size: int = INPUT_SIZE,
) -> nn.Module:
    """timm EfficientNet-B2 for 1-channel 48x48 faces, randomly initialised.

    ``network_size`` > 48 upsamples the faces inside the model (see
    ``UpsamplingConv2d``): same parameters, more compute per face.

    ``zero_head`` zeroes the classifier: timm's default init gives logits of a
    few units, so the first loss is ~4.2 instead of ln(7) ~ 1.95 and training
    from scratch can sit at the majority class for epochs.
    """
    if not isinstance(network_size, int) or network_size < INPUT_SIZE:
        raise ValueError(f"network_size must be an integer at least the {INPUT_SIZE} px input, got {network_size!r}")
    model = timm.create_model(
        ARCHITECTURE,
        pretrained=False,
        in_chans=1,
        num_classes=num_classes,
        drop_rate=drop_rate,
        drop_path_rate=drop_path_rate,
    )
    if network_size != INPUT_SIZE:
        model.conv_stem = UpsamplingConv2d(model.conv_stem, network_size)
    if zero_head:
        classifier = model.get_classifier()
        nn.init.zeros_(classifier.weight)
        nn.init.zeros_(classifier.bias)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def pick_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
