from pathlib import Path

import numpy as np
import pytest

from core import CAM_METHODS, EmotionClassifier, explain, overlay_heatmap
from core.gradcam import cam_extractor

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def classifier():
    return EmotionClassifier.load()


@pytest.fixture(scope="module")
def face(astronaut):
    from core.faces import analyze

    return analyze(astronaut).faces[0].face


@pytest.mark.parametrize("method", sorted(CAM_METHODS))
def test_heatmap_shape_and_range(classifier, face, method):
    heatmap = explain(classifier, face, method=method)
    assert heatmap.shape == (48, 48) and heatmap.dtype == np.float32
    assert heatmap.min() >= 0.0 and heatmap.max() <= 1.0 + 1e-6


def test_two_classes_give_different_maps(classifier, face):
    happy = explain(classifier, face, "happy")
    sad = explain(classifier, face, "sad")
    assert np.abs(happy - sad).mean() > 0.01


def test_overlay_image(classifier, face):
    heatmap = explain(classifier, face, 3)
    overlay = overlay_heatmap(face, heatmap, alpha=0.4, size=192)
    assert overlay.shape == (192, 192, 3) and overlay.dtype == np.uint8
    plain = overlay_heatmap(face, heatmap, alpha=0.0)
    assert (plain[:, :, 0] == plain[:, :, 1]).all()  # alpha 0: the grey face only


def test_hooks_are_released_and_predictions_unaffected(classifier, face):
    before = classifier.predict_proba([face])
    with cam_extractor(classifier) as cam:
        model = cam.model
        assert any(m._forward_hooks for m in model.modules())
    assert not any(m._forward_hooks for m in model.modules())
    assert not any(m._forward_hooks for m in classifier.model.modules())
    np.testing.assert_allclose(classifier.predict_proba([face]), before, atol=1e-6)


def test_bad_targets(classifier, face):
    with pytest.raises(ValueError, match="unknown class"):
        explain(classifier, face, "bored")
    with pytest.raises(ValueError, match="out of range"):
        explain(classifier, face, 9)
    with pytest.raises(ValueError, match="unknown CAM method"):
        explain(classifier, face, method="scorecam")


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_real_photo_faces_get_a_non_empty_map(method):
    # With the shipped model the 3x3 layer has no positive evidence for some confident faces
    # (an all-zero map, drawn as a flat blue overlay); the fallback layer must give a map.
    from core import analyze

    classifier = EmotionClassifier.load(backend="torch")
    for name in ("astronaut.jpg", "four_faces.jpg"):
        for face in analyze(ROOT / "demo" / "examples" / name).faces:
            assert explain(classifier, face.face, method=method).max() > 0, name


@pytest.mark.parametrize("method", sorted(CAM_METHODS))
def test_fast_cam_model_gives_the_reference_maps(classifier, face, method):
    # The CAM model is BN-folded and backpropagates from the target layer only, for speed;
    # its maps must equal pytorch-grad-cam's on an untouched copy of the model.
    import copy

    import torch
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from core.gradcam import TARGET_LAYER
    from core.preprocess import preprocess

    plain = copy.deepcopy(classifier.model).eval().to(memory_format=torch.contiguous_format)
    x = preprocess([face])
    compared = 0
    for target in range(len(classifier.labels)):
        with CAM_METHODS[method](model=plain, target_layers=[plain.get_submodule(TARGET_LAYER)]) as cam:
            reference = cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0]
        if reference.max() > 0:  # an empty map falls back to another layer: not comparable
            np.testing.assert_allclose(explain(classifier, face, target, method=method), reference, atol=1e-4)
            compared += 1
    assert compared >= 3


@pytest.mark.parametrize("method", sorted(CAM_METHODS))
def test_batched_maps_equal_one_face_at_a_time(classifier, method):
    from core import analyze, explain_faces

    faces = [f.face for f in analyze(ROOT / "demo" / "examples" / "four_faces.jpg").faces]
    faces.append(analyze(ROOT / "demo" / "examples" / "astronaut.jpg").faces[0].face)
    targets = [None, "sad", 0, "fear", None]
    batched = explain_faces(classifier, faces, targets, method=method)
    for face, target, heatmap in zip(faces, targets, batched, strict=True):
        np.testing.assert_allclose(heatmap, explain(classifier, face, target, method=method), atol=1e-4)
    assert explain_faces(classifier, [], method=method) == []
    with pytest.raises(ValueError, match="targets"):
        explain_faces(classifier, faces, ["sad"])
