import io

import numpy as np
import pytest
from PIL import Image

from core import ImageInputError, analyze, detect_faces, load_image
from core.faces import box_iou
from tests.conftest import bad_inputs, encode

ASTRONAUT_FACE = (177, 67, 93, 93)  # measured box of Eileen Collins' face


def test_finds_the_astronaut_face(astronaut):
    boxes = detect_faces(Image.fromarray(astronaut))
    assert len(boxes) == 1 and box_iou(boxes[0], ASTRONAUT_FACE) > 0.6
    result = analyze(astronaut)
    assert len(result.faces) == 1 and not result.whole_image
    face = result.faces[0]
    assert abs(sum(face.probabilities.values()) - 1) < 1e-5
    assert face.label == max(face.probabilities, key=face.probabilities.get)
    assert result.to_dict()["faces"][0]["box"] == list(face.box)


def test_detection_is_thread_safe(astronaut, group_photo):
    # One shared cv2.CascadeClassifier fails under concurrent calls; the demo runs two at once.
    from concurrent.futures import ThreadPoolExecutor

    photos = [Image.fromarray(astronaut), Image.fromarray(group_photo)] * 8
    expected = [detect_faces(photo) for photo in photos[:2]] * 8
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(detect_faces, photos)) == expected


def test_several_faces(group_photo):
    result = analyze(group_photo)
    assert len(result.faces) == 4
    assert result.message == "Found 4 faces."


def test_no_face_says_so_and_offers_whole_image():
    blank = np.full((480, 640, 3), 128, np.uint8)
    result = analyze(blank)
    assert result.faces == [] and "No face found" in result.message and "whole image" in result.message
    whole = analyze(blank, whole_image=True)
    assert len(whole.faces) == 1 and whole.whole_image and whole.faces[0].box == (0, 0, 640, 480)


def test_small_face_crop_is_classified_whole():
    crop = np.random.default_rng(0).integers(0, 256, (48, 48), np.uint8)
    result = analyze(crop)
    assert result.whole_image and len(result.faces) == 1
    assert analyze(crop, whole_image=False).faces == []


def test_exif_orientation_is_applied(astronaut):
    # Store the photo rotated, with an EXIF tag saying "rotate 90° clockwise to view".
    rotated = Image.fromarray(astronaut).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(rotated, "JPEG", exif=exif.tobytes(), quality=95)
    upright = load_image(data)
    assert upright.size == (512, 512)
    result = analyze(data)
    assert len(result.faces) == 1 and box_iou(result.faces[0].box, ASTRONAUT_FACE) > 0.5


@pytest.mark.parametrize("mode", ["CMYK", "I;16", "RGBA", "P", "LA"])
def test_any_image_mode(astronaut, mode):
    image = Image.fromarray(astronaut)
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257)
    else:
        image = image.convert(mode)
    fmt = "TIFF" if mode in ("CMYK", "I;16") else "PNG"
    result = analyze(encode(image, fmt))
    assert len(result.faces) == 1


def test_huge_image_is_downscaled(astronaut):
    big = Image.fromarray(astronaut).resize((6000, 6000))
    loaded = load_image(encode(big, "JPEG"))
    assert max(loaded.size) <= 2048
    assert len(analyze(loaded).faces) == 1


@pytest.mark.parametrize("case", ["empty", "text", "truncated_jpeg", "corrupt_header", "animated_gif", "bomb"])
def test_bad_input_gives_a_clear_error(astronaut, case):
    data = bad_inputs(astronaut)[case]
    with pytest.raises(ImageInputError) as error:
        analyze(data)
    assert "Traceback" not in str(error.value) and len(str(error.value)) > 10


def test_bad_file_paths(tmp_path):
    with pytest.raises(ImageInputError, match="not found"):
        load_image(tmp_path / "missing.jpg")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageInputError, match="empty"):
        load_image(empty)
    with pytest.raises(ImageInputError, match="shape"):
        load_image(np.zeros((2, 2, 2, 2)))
    assert load_image(io.BytesIO(encode(np.zeros((8, 8), np.uint8))).getvalue()).size == (8, 8)
