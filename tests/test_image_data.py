"""Image data: a folder per class or a table of paths, checked file by file, loaded upright
and in RGB. Every image is written by the test with Pillow; the digits are sklearn's."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from modelscout import build_spec
from modelscout.data import (
    MAX_UNREADABLE_SHARE,
    ImageInputs,
    load_image,
    load_task_data,
    stratified_sample,
)
from modelscout.errors import UserError
from modelscout.inputs import prepare

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)
EXIF_ORIENTATION = 0x0112
ROTATE_90_CLOCKWISE = 6  # the EXIF value a phone held upright writes for its sideways sensor


def two_colours(size=(40, 20)):
    """Left half red, right half blue."""
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, size[0] // 2, size[1]))
    return image


def digits_folder(root, per_class=20):
    """sklearn's 8x8 digits as PNG files, one sub-folder per digit; returns (folder, labels)."""
    digits = load_digits()
    folder = root / "digits"
    written = []
    for digit in range(10):
        (folder / str(digit)).mkdir(parents=True)
        rows = np.flatnonzero(digits.target == digit)[:per_class]
        for row in rows:
            pixels = (digits.images[row] * 15).astype(np.uint8)  # 0..16 to 0..240
            Image.fromarray(pixels).save(folder / str(digit) / f"{row}.png")
            written.append((row, digit))
    return folder, written


def squares(folder, classes=("cat", "dog"), per_class=10, size=(16, 16)):
    """Small PNGs whose colour differs per file: a folder per class."""
    for c, name in enumerate(classes):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            colour = (10 * i, 100 * c, 7 * i)
            Image.new("RGB", size, colour).save(folder / name / f"{i}.png")
    return folder


def test_load_image_turns_an_exif_rotated_jpeg_upright(tmp_path):
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATE_90_CLOCKWISE
    two_colours().save(tmp_path / "phone.jpg", exif=exif, quality=95)
    image = load_image(tmp_path / "phone.jpg")
    # Turned 90 degrees clockwise: the stored left (red) half is now on top.
    assert image.size == (20, 40) and image.mode == "RGB"
    top, bottom = np.asarray(image)[5, 10], np.asarray(image)[35, 10]
    assert np.abs(top.astype(int) - RED).max() < 30
    assert np.abs(bottom.astype(int) - BLUE).max() < 30
    unrotated = load_image(_saved(two_colours(), tmp_path / "plain.jpg"))
    assert unrotated.size == (40, 20)


def _saved(image, path, **options):
    image.save(path, **options)
    return path


def test_load_image_gives_rgb_for_grey_palette_cmyk_and_16_bit(tmp_path):
    grey = Image.fromarray(np.array([[0, 128], [200, 255]], dtype=np.uint8))
    assert np.asarray(load_image(_saved(grey, tmp_path / "g.png")))[1, 0].tolist() == [200] * 3
    palette = two_colours().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    rgb = np.asarray(load_image(_saved(palette, tmp_path / "p.png")))
    assert rgb[0, 0].tolist() == list(RED) and rgb[0, 39].tolist() == list(BLUE)
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # no cyan or black: red
    assert np.asarray(load_image(_saved(cmyk, tmp_path / "c.jpg")))[4, 4].tolist()[0] > 230
    deep = Image.fromarray(np.array([[0, 32768], [65535, 1000]], dtype=np.uint16))
    assert np.asarray(load_image(_saved(deep, tmp_path / "d.png")))[:, :, 0].tolist() == [
        [0, 127],
        [255, 3],
    ]


def test_load_image_puts_transparency_on_white(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 255, 0))  # fully transparent: white, whatever its colour
    rgba.putpixel((1, 0), (0, 0, 0, 128))  # half-transparent black: mid grey
    pixels = np.asarray(load_image(_saved(rgba, tmp_path / "a.png")))
    assert pixels[0, 0].tolist() == list(WHITE) and pixels[0, 3].tolist() == list(RED)
    assert 120 <= pixels[0, 1, 0] <= 135
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 255, 0])
    palette.putpixel((1, 0), 1)
    palette.info["transparency"] = 1  # green is the transparent index
    pixels = np.asarray(load_image(_saved(palette, tmp_path / "t.png", transparency=1)))
    assert pixels[0].tolist() == [list(RED), list(WHITE)]


def test_a_folder_per_class_of_digits_loads_as_image_data(tmp_path):
    folder, written = digits_folder(tmp_path)
    data = load_task_data(folder)
    assert data.modality == "image" and len(data) == 200
    assert data.classes == [str(d) for d in range(10)]
    assert np.bincount(data.labels).tolist() == [20] * 10
    assert data.source == str(folder) and data.notes == [] and data.unreadable == {}
    first = data.inputs.items[0]
    assert first.endswith(".png") and isinstance(first, str)
    row = int(first.rsplit("/", 1)[1].removesuffix(".png"))
    pixels = np.asarray(load_image(first))[:, :, 0]
    assert pixels.tolist() == (load_digits().images[row] * 15).astype(int).tolist()
    with pytest.raises(AttributeError, match="image data has no texts; read .inputs.items"):
        data.texts  # noqa: B018


def test_unreadable_images_are_left_out_and_listed(tmp_path):
    folder = squares(tmp_path / "pets", per_class=20)
    noise = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    raw = _saved(Image.fromarray(noise), tmp_path / "noise.jpg", quality=90).read_bytes()
    # Cut late, inside the last scan: the header and verify() find nothing wrong with it.
    (folder / "cat" / "truncated.jpg").write_bytes(raw[: int(len(raw) * 0.9)])
    (folder / "dog" / "notes.png").write_text("not an image at all")
    (folder / "dog" / "README.txt").write_text("the dogs")
    (folder / "dog" / ".DS_Store").write_bytes(b"\0\0")
    data = load_task_data(folder)
    assert len(data) == 40 and data.rows_in_file == 42 and data.rows_dropped == 2
    assert sorted(Path(p).name for p in data.unreadable) == ["notes.png", "truncated.jpg"]
    assert data.unreadable[str(folder / "dog" / "notes.png")] == (
        "not an image file Pillow can read"
    )
    assert "truncated" in data.unreadable[str(folder / "cat" / "truncated.jpg")].lower()
    assert data.notes[0] == "1 file(s) not named as images were left out: dog/README.txt"
    assert data.notes[1].startswith("2 image(s) could not be read and were left out: cat/trunc")


def test_too_many_unreadable_images_are_one_error_naming_some_and_the_share(tmp_path):
    folder = squares(tmp_path / "pets", per_class=5)
    for i in range(3):
        (folder / "cat" / f"broken{i}.png").write_text("oops")
    assert MAX_UNREADABLE_SHARE < 3 / 13
    with pytest.raises(UserError) as error:
        load_task_data(folder)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("data folder ") and "3 of 13 images (23%) cannot be read" in message
    assert "cat/broken0.png: not an image file Pillow can read" in message


def test_a_table_of_image_paths_relative_to_the_table_is_image_data(tmp_path):
    squares(tmp_path / "photos", per_class=6)
    rows = [
        {"image": f"photos/{name}/{i}.png", "label": name, "region": ["north", "south"][i % 2]}
        for name in ("cat", "dog")
        for i in range(6)
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "photos.csv", index=False)
    data = load_task_data(tmp_path / "photos.csv", slice_columns=["region"])
    assert data.modality == "image" and data.classes == ["cat", "dog"] and len(data) == 12
    assert data.inputs.items[0] == str(tmp_path / "photos" / "cat" / "0.png")
    assert data.slices["region"][:2].tolist() == ["north", "south"]
    assert (
        load_task_data(tmp_path / "photos.csv").fingerprint
        == load_task_data(tmp_path / "photos", modality="image").fingerprint
    )
    frame = pd.DataFrame(rows).rename(columns={"image": "file"})
    frame["file"] = [str(tmp_path / p) for p in frame["file"]]
    assert load_task_data(frame, image_column="file").modality == "image"


def test_an_image_column_pointing_at_missing_files_is_one_error(tmp_path):
    squares(tmp_path / "photos", per_class=3)
    rows = {"image": [f"photos/cat/{i}.png" for i in range(6)], "label": ["a", "b"] * 3}
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(
        UserError,
        match=r"^t.csv: 3 of 6 path\(s\) in image column 'image' lead to no file \(.*cat/3.png, "
        r".*cat/4.png, .*cat/5.png\); relative paths are read from the table's folder",
    ):
        load_task_data(tmp_path / "t.csv")


def test_modality_is_detected_and_can_be_set(tmp_path):
    squares(tmp_path / "photos", per_class=3)
    rows = {
        "image": [f"photos/{c}/{i}.png" for c in ("cat", "dog") for i in range(3)],
        "text": [f"caption {i}" for i in range(6)],
        "label": ["cat"] * 3 + ["dog"] * 3,
    }
    pd.DataFrame(rows).to_csv(tmp_path / "both.csv", index=False)
    assert load_task_data(tmp_path / "both.csv").modality == "image"
    as_text = load_task_data(tmp_path / "both.csv", modality="text")
    assert as_text.modality == "text" and as_text.texts[0] == "caption 0"
    not_paths = pd.DataFrame({**rows, "image": ["a photo"] * 6})
    assert load_task_data(not_paths).modality == "text"
    with pytest.raises(UserError, match=r"no image column 'picture' .*pass --image-column"):
        load_task_data(tmp_path / "both.csv", modality="image", image_column="picture")
    with pytest.raises(UserError, match="^audio data is not supported yet; use text or image"):
        load_task_data(tmp_path / "both.csv", modality="audio")
    with pytest.raises(UserError, match="is a folder, which holds image data; give text data"):
        load_task_data(tmp_path / "photos", modality="text")


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda root: root / "nowhere", r"data folder .*nowhere does not exist"),
        (lambda root: root, r"has no image files in sub-folders; put each class's images"),
        (lambda root: squares(root, classes=("cat",)), r"only one class \('cat'\) among its sub"),
        (lambda root: squares(root, per_class=1), r"class 'cat' has 1 row\(s\); 2-fold"),
    ],
)
def test_a_folder_that_is_not_image_classification_data_is_one_error(tmp_path, make, error):
    root = tmp_path / "data"
    root.mkdir()
    with pytest.raises(UserError, match=error):
        load_task_data(make(root))


def test_the_fingerprint_follows_the_image_bytes_not_the_folder(tmp_path):
    folder = squares(tmp_path / "pets")
    before = load_task_data(folder).fingerprint
    moved = tmp_path / "elsewhere"
    shutil.copytree(folder, moved)
    assert load_task_data(moved).fingerprint == before
    Image.new("RGB", (16, 16), (1, 2, 3)).save(moved / "dog" / "4.png")
    assert load_task_data(moved).fingerprint != before
    # Built by hand, without the loader's digests: the same fingerprint, read from the files.
    data = load_task_data(folder)
    data.inputs = ImageInputs(data.inputs.paths)
    assert data.fingerprint == before


def test_a_stratified_sample_of_images_keeps_the_classes_and_the_digests(tmp_path):
    folder, _ = digits_folder(tmp_path, per_class=30)
    data = load_task_data(folder)
    sample = stratified_sample(data, max_samples=50, seed=0, min_per_class=5)
    assert len(sample) == 50 and np.bincount(sample.labels).tolist() == [5] * 10
    assert all(p.startswith(str(folder)) for p in sample.inputs.items)
    assert sample.inputs.digests is not None and len(sample.inputs.digests) == 50
    again = stratified_sample(data, max_samples=50, seed=0, min_per_class=5)
    assert again.inputs.items == sample.inputs.items and again.fingerprint == sample.fingerprint
    assert stratified_sample(data, 50, 1, 5).inputs.items != sample.inputs.items


def test_a_spec_names_the_modality_and_prepare_loads_a_folder(tmp_path):
    folder, _ = digits_folder(tmp_path, per_class=6)
    prepared = prepare(build_spec(data=folder, modality="image", max_samples=30, folds=2))
    assert prepared.sample.modality == "image" and len(prepared.sample) == 30
    with pytest.raises(UserError, match="modality: Input should be 'text', 'image' or 'audio'"):
        build_spec(data=folder, modality="video")
    with pytest.raises(UserError, match="^audio data is not supported yet"):
        prepare(build_spec(data=folder, modality="audio"))
