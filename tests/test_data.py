import zipfile

import numpy as np
import pytest

from core.labels import LABELS
from training.data import DatasetLayoutError, load_fer2013, stratified_split


def test_folder_zip_and_csv_decode_to_the_same_data(fer_folder, fer_zip, fer_csv, fer_rows):
    folder, archive, table = (load_fer2013(p, cache=False) for p in (fer_folder, fer_zip, fer_csv))
    assert len(folder) == len(fer_rows)
    np.testing.assert_array_equal(folder.images, archive.images)
    np.testing.assert_array_equal(folder.labels, archive.labels)
    # The csv has no file names; order within a (usage, label) group follows the rows.
    for usage in ("Training", "PublicTest", "PrivateTest"):
        for label in range(len(LABELS)):
            a = folder.images[(folder.usage == usage) & (folder.labels == label)]
            b = table.images[(table.usage == usage) & (table.labels == label)]
            np.testing.assert_array_equal(np.sort(a.reshape(len(a), -1), 0), np.sort(b.reshape(len(b), -1), 0))
    assert folder.images.dtype == np.uint8 and folder.images.shape[1:] == (48, 48)
    assert set(folder.usage) == {"Training", "PublicTest", "PrivateTest"}
    assert len(folder.test) == 7 * 4 and len(folder.train) == 7 * 8


def test_cache_returns_identical_arrays(fer_zip, tmp_path, monkeypatch):
    import training.data as data_module

    monkeypatch.setattr(data_module, "CACHE_DIR", tmp_path / "cache")
    first = load_fer2013(fer_zip)
    assert list((tmp_path / "cache").glob("*.npz"))
    second = load_fer2013(fer_zip)
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.names, second.names)


def test_wrong_layout_says_what_was_found_and_expected(tmp_path):
    (tmp_path / "images" / "happy").mkdir(parents=True)
    (tmp_path / "images" / "happy" / "a.jpg").write_bytes(b"x")
    with pytest.raises(DatasetLayoutError) as error:
        load_fer2013(tmp_path, cache=False)
    message = str(error.value)
    assert "images" in message and "train/<class>" in message and "disgust" in message


def test_wrong_zip_and_bad_csv(tmp_path):
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("data/readme.txt", "hello")
    with pytest.raises(DatasetLayoutError, match="no FER-2013 train and test images"):
        load_fer2013(archive, cache=False)
    table = tmp_path / "bad.csv"
    table.write_text("label,image\n1,2\n")
    with pytest.raises(DatasetLayoutError, match="lack"):
        load_fer2013(table, cache=False)
    short = tmp_path / "short.csv"
    short.write_text("emotion,pixels,Usage\n3,1 2 3,Training\n")
    with pytest.raises(DatasetLayoutError, match="row 1"):
        load_fer2013(short, cache=False)
    with pytest.raises(FileNotFoundError, match="Kaggle"):
        load_fer2013(tmp_path / "missing.zip", cache=False)


def test_corrupt_image_names_the_file(tmp_path, fer_folder):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(fer_folder, copy)
    victim = next((copy / "train" / "fear").glob("*.png"))
    victim.write_bytes(b"not a png")
    with pytest.raises(DatasetLayoutError, match=victim.name):
        load_fer2013(copy, cache=False)


def test_stratified_split_is_seeded_disjoint_and_stratified():
    labels = np.repeat(np.arange(7), [400, 40, 400, 800, 560, 480, 320])
    train, val = stratified_split(labels, 0.125, seed=3)
    again_train, again_val = stratified_split(labels, 0.125, seed=3)
    np.testing.assert_array_equal(val, again_val)
    np.testing.assert_array_equal(train, again_train)
    assert not set(train) & set(val) and len(train) + len(val) == len(labels)
    for label, count in enumerate(np.bincount(labels)):
        assert abs((labels[val] == label).sum() - count * 0.125) <= 1
    _, other = stratified_split(labels, 0.125, seed=4)
    assert not np.array_equal(val, other)
