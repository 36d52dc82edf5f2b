"""The model factory: network_size upsamples 48 px faces inside the model, with timm's own parameters."""

import json
import shutil

import numpy as np
import pytest
import torch

from core import EmotionClassifier
from core.model import UpsamplingConv2d, count_parameters, create_model
from core.weights import DEFAULT_WEIGHTS, WeightsError, card_path_for, load_state_dict, save_weights


def stage_sizes(model: torch.nn.Module, x: torch.Tensor) -> list[int]:
    """Spatial side of each EfficientNet stage's output."""
    sides = []
    hooks = [block.register_forward_hook(lambda m, i, o: sides.append(o.shape[-1])) for block in model.blocks]
    with torch.no_grad():
        model.eval()(x)
    for hook in hooks:
        hook.remove()
    return sides


def test_network_size_upsamples_inside_the_model_with_the_same_parameters():
    plain, upsampled = create_model(), create_model(network_size=96)
    x = torch.rand(2, 1, 48, 48)
    assert stage_sizes(plain, x) == [24, 12, 6, 3, 3, 2, 2]
    assert stage_sizes(upsampled, x) == [48, 24, 12, 6, 6, 3, 3]
    assert isinstance(upsampled.conv_stem, UpsamplingConv2d) and "upsample_to=96" in repr(upsampled.conv_stem)
    assert count_parameters(plain) == count_parameters(upsampled)
    assert plain.state_dict().keys() == upsampled.state_dict().keys()
    # The shipped 48 px weights load into a 96 px network (a warm restart at a larger size).
    upsampled.load_state_dict(load_state_dict(DEFAULT_WEIGHTS)[0])
    assert upsampled(x).shape == (2, 7)
    # An input already at the network size passes through unchanged in size.
    assert upsampled(torch.rand(1, 1, 96, 96)).shape == (1, 7)
    with pytest.raises(ValueError, match="at least"):
        create_model(network_size=32)


def test_the_card_carries_the_network_size_to_serving(tmp_path):
    state, card = load_state_dict(DEFAULT_WEIGHTS)
    weights = tmp_path / "upsampled.safetensors"
    save_weights(state, weights, {**card, "network_size": 64})
    clf = EmotionClassifier.load(weights, backend="torch")
    assert clf.model.conv_stem.size == 64
    faces = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    reference = EmotionClassifier.load(backend="torch").predict_proba(faces)
    assert not np.allclose(clf.predict_proba(faces), reference, atol=1e-3)  # the upsampling is really applied
    pytest.importorskip("onnxruntime")
    onnx_clf = EmotionClassifier.load(weights, backend="onnx")
    assert np.abs(onnx_clf.predict_proba(faces, tta="tencrop") - clf.predict_proba(faces, tta="tencrop")).max() <= 1e-4


@pytest.mark.parametrize("value", [32, "64", 64.5])
def test_a_bad_network_size_in_the_card_is_refused(tmp_path, value):
    weights = tmp_path / "model.safetensors"
    shutil.copy(DEFAULT_WEIGHTS, weights)
    card = json.loads(card_path_for(DEFAULT_WEIGHTS).read_text())
    card_path_for(weights).write_text(json.dumps({**card, "network_size": value}))
    with pytest.raises(WeightsError, match="network_size"):
        EmotionClassifier.load(weights)
