"""Benchmark submission naming and train id → label id; EXIF orientation of inputs."""
import numpy as np
import pytest
from PIL import Image

from flexseg.submission import TRAINID_TO_LABELID, submission_stem, to_label_ids


def test_trainid_to_labelid_table():
    expected = {0: 7, 1: 8, 2: 11, 3: 12, 4: 13, 5: 17, 6: 19, 7: 20, 8: 21, 9: 22, 10: 23, 11: 24, 12: 25,
                13: 26, 14: 27, 15: 28, 16: 31, 17: 32, 18: 33}
    ids = to_label_ids(np.arange(19, dtype=np.uint8).reshape(1, 19))
    assert ids.dtype == np.uint8 and dict(zip(range(19), ids[0].tolist())) == expected
    assert len(TRAINID_TO_LABELID) == 19
    with pytest.raises(ValueError, match="255"):
        to_label_ids(np.array([[0, 255]], dtype=np.uint8))


@pytest.mark.parametrize("fmt,stem,out", [
    ("cityscapes", "berlin_000123_000019_leftImg8bit", "berlin_000123_000019_leftImg8bit"),
    ("cityscapes", "monchengladbach_000000_000004_leftImg8bit", "monchengladbach_000000_000004_leftImg8bit"),
    ("acdc", "GOPR0122_frame_000161_rgb_anon", "GOPR0122_frame_000161_predlabelIds"),
    ("dark_zurich", "GOPR0356_frame_000321_rgb_anon", "GOPR0356_frame_000321_predlabelIds"),
])
def test_submission_names(fmt, stem, out):
    assert submission_stem(stem, fmt) == out


@pytest.mark.parametrize("fmt,stem", [("cityscapes", "berlin_000123_leftImg8bit"), ("cityscapes", "photo"),
                                      ("cityscapes", "bad_city_000000_000004_leftImg8bit"),
                                      ("acdc", "GOPR0122_frame_000161"), ("nope", "x_rgb_anon")])
def test_submission_rejects_foreign_names(fmt, stem):
    with pytest.raises(ValueError, match=stem if fmt != "nope" else "format=nope"):
        submission_stem(stem, fmt)


def test_read_rgb_applies_exif_orientation(tmp_path):
    from flexseg.predict import read_rgb

    pixels = np.zeros((2, 3, 3), dtype=np.uint8)  # stored 2 high × 3 wide, red top-left
    pixels[0, 0] = (255, 0, 0)
    im = Image.fromarray(pixels)
    exif = im.getexif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    im.save(tmp_path / "rot.png", exif=exif)
    upright = read_rgb(tmp_path / "rot.png")
    assert upright.shape == (3, 2, 3)  # displayed 3 high × 2 wide
    assert tuple(upright[0, 1]) == (255, 0, 0)  # top-left goes to top-right under a clockwise turn
    im.save(tmp_path / "plain.png")
    assert read_rgb(tmp_path / "plain.png").shape == (2, 3, 3)
