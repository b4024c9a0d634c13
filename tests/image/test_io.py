import numpy as np
import pytest
import torch
from PIL import Image

from cxrgraph.image.io import (
    MAX_SIDE,
    ImageInputError,
    check_image_batch,
    check_image_tensor,
    read_image,
    read_images,
    resize_image,
    to_image_tensor,
)


def _gradient(h=64, w=80):
    return (np.arange(h * w).reshape(h, w) % 256).astype(np.uint8)


def test_8bit_png_and_jpeg_scale(tmp_path):
    arr = _gradient()
    Image.fromarray(arr).save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert img.dtype == torch.float32 and img.shape == (1, 64, 80)
    assert torch.allclose(img[0], torch.from_numpy(arr).float() / 255)
    Image.fromarray(arr).save(tmp_path / "a.jpg", quality=95)
    jpg = read_image(tmp_path / "a.jpg")
    assert jpg.shape == (1, 64, 80) and float(jpg.min()) >= 0 and float(jpg.max()) <= 1


def test_16bit_png_uses_the_16bit_range(tmp_path):
    arr = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / "b.png")
    with Image.open(tmp_path / "b.png") as im:
        assert im.mode.startswith("I")  # really a 16-bit file
    img = read_image(tmp_path / "b.png")
    assert torch.allclose(img[0], torch.from_numpy(arr.astype(np.float32) / 65535), atol=1e-6)
    assert float(img.max()) == pytest.approx(1.0)


def test_rgb_becomes_luminance_and_gray_rgb_is_exact(tmp_path):
    gray = _gradient()
    Image.fromarray(np.stack([gray] * 3, -1)).save(tmp_path / "g.png")
    assert torch.equal(read_image(tmp_path / "g.png"), read_image_from(gray))
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[..., 0] = 255
    rgb[0, 0] = 0
    Image.fromarray(rgb).save(tmp_path / "r.png")
    img = read_image(tmp_path / "r.png")
    assert img.shape == (1, 40, 40)
    assert float(img[0, 5, 5]) == pytest.approx(round(0.299 * 255) / 255, abs=1e-6)


def read_image_from(arr):
    return to_image_tensor(arr)


def test_corrupt_and_empty_files_name_the_file(tmp_path):
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    with pytest.raises(ImageInputError, match=r"corrupt.jpg.*corrupt or unreadable"):
        read_image(bad)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageInputError, match=r"empty.png.*empty file"):
        read_image(empty)
    with pytest.raises(FileNotFoundError, match=r"missing.png"):
        read_image(tmp_path / "missing.png")


def test_truncated_png_is_corrupt(tmp_path):
    Image.fromarray(_gradient()).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageInputError, match=r"t.png"):
        read_image(tmp_path / "t.png")


def test_blank_and_absurd_sizes(tmp_path):
    Image.fromarray(np.full((64, 64), 7, np.uint8)).save(tmp_path / "blank.png")
    with pytest.raises(ImageInputError, match=r"blank image"):
        read_image(tmp_path / "blank.png")
    Image.fromarray(_gradient(8, 8)).save(tmp_path / "tiny.png")
    with pytest.raises(ImageInputError, match=r"tiny.png.*absurd size 8x8"):
        read_image(tmp_path / "tiny.png")
    Image.new("L", (MAX_SIDE + 1, 40)).save(tmp_path / "huge.png")
    with pytest.raises(ImageInputError, match=r"huge.png.*absurd size.*width"):
        read_image(tmp_path / "huge.png")


def test_wrong_channel_counts():
    with pytest.raises(ImageInputError, match=r"wrong channel count: 2"):
        to_image_tensor(np.zeros((40, 40, 2), np.uint8), "two.png")
    with pytest.raises(ImageInputError, match=r"expected a 2-D"):
        to_image_tensor(np.zeros((2, 40, 40, 3), np.uint8))
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[:20, :, :3] = 200
    out = to_image_tensor(rgba)
    assert out.shape == (1, 40, 40) and float(out.max()) == pytest.approx(200 / 255)


def test_cmyk_file_is_refused(tmp_path):
    Image.new("CMYK", (40, 40), (10, 20, 30, 40)).save(tmp_path / "c.jpg")
    with pytest.raises(ImageInputError, match=r"c.jpg.*pixel mode 'CMYK'"):
        read_image(tmp_path / "c.jpg")


def test_check_image_tensor_at_the_models_door():
    ok = torch.rand(1, 40, 50)
    assert check_image_tensor(ok) is ok
    with pytest.raises(ImageInputError, match=r"wrong channel count: expected 1.*got 3"):
        check_image_tensor(torch.rand(3, 40, 40))
    with pytest.raises(ImageInputError, match=r"dtype"):
        check_image_tensor(torch.rand(1, 40, 40).double())
    with pytest.raises(ImageInputError, match=r"values must lie in \[0, 1\]"):
        check_image_tensor(torch.rand(1, 40, 40) * 255)
    with pytest.raises(ImageInputError, match=r"NaN"):
        check_image_tensor(torch.full((1, 40, 40), float("nan")))
    with pytest.raises(ImageInputError, match=r"absurd size"):
        check_image_tensor(torch.rand(1, 4, 400))
    with pytest.raises(ImageInputError, match=r"empty batch"):
        check_image_batch([])
    assert len(check_image_batch(torch.rand(2, 1, 40, 40))) == 2


def test_batch_read_records_and_skips(tmp_path):
    Image.fromarray(_gradient()).save(tmp_path / "good.png")
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    good, skipped = read_images([tmp_path / "good.png", tmp_path / "bad.jpg", tmp_path / "gone.png"], size=48)
    assert [p.name for p, _ in good] == ["good.png"]
    assert good[0][1].shape == (1, 48, 48)
    assert {s.path.split("/")[-1] for s in skipped} == {"bad.jpg", "gone.png"}
    assert all(s.problem for s in skipped)


def test_resize_keeps_range():
    x = torch.rand(1, 100, 60)
    y = resize_image(x, (50, 40))
    assert y.shape == (1, 50, 40) and float(y.min()) >= 0 and float(y.max()) <= 1


def test_integer_and_complex_arrays():
    arr = (np.arange(64 * 64).reshape(64, 64) % 256).astype(np.int64)
    out = to_image_tensor(arr, "int64.npy")
    assert float(out.max()) == pytest.approx(1.0)  # 0-255 values in an int64 array: 8-bit scale
    assert torch.allclose(out[0], torch.from_numpy(arr / 255).float())
    twelve = (np.arange(64 * 64).reshape(64, 64) % 4096).astype(np.int32)
    assert float(to_image_tensor(twelve).max()) == pytest.approx(4095 / 65535)
    assert float(to_image_tensor(arr.astype(np.uint16)).max()) == pytest.approx(255 / 65535)
    with pytest.raises(ImageInputError, match=r"c.npy: complex pixel values"):
        to_image_tensor(arr.astype(np.complex64), "c.npy")
    with pytest.raises(ImageInputError, match=r"negative integer pixels"):
        to_image_tensor(arr - 5)
    with pytest.raises(ImageInputError, match=r"exceed 16 bits"):
        to_image_tensor(arr * 1000)
    with pytest.raises(ImageInputError, match=r"not a numeric image array"):
        to_image_tensor(np.full((40, 40), "x"))


def test_check_image_batch_takes_one_image():
    one = torch.rand(1, 40, 50)
    assert len(check_image_batch(one)) == 1
    with pytest.raises(ImageInputError, match=r"wrong channel count"):
        check_image_batch(torch.rand(3, 40, 40))
