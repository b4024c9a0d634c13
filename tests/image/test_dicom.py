"""DICOM pixels as a viewer shows them, on two real films and on files written here."""

import numpy as np
import pytest
import torch
from PIL import Image

from cxrgraph.image.io import ImageInputError, read_image

from .realfilms import REFERENCE, dicom_testdata

pydicom = pytest.importorskip("pydicom")


def _region(img, box):
    h, w = img.shape[-2:]
    return img[0, int(box[1] * h) : int(box[3] * h), int(box[0] * w) : int(box[2] * w)]


def _has_jpeg2000_decoder() -> bool:
    from PIL import features

    try:
        import openjpeg  # noqa: F401  (pylibjpeg-openjpeg)

        return True
    except ImportError:
        return bool(features.check("jpg_2000"))


@pytest.fixture(scope="module")
def rg1():
    return read_image(dicom_testdata("RG1_UNCR.dcm"))


def test_rg1_monochrome1_comes_out_air_dark(rg1):
    ds = pydicom.dcmread(dicom_testdata("RG1_UNCR.dcm"), stop_before_pixels=True)
    assert ds.PhotometricInterpretation == "MONOCHROME1" and int(ds.BitsStored) == 15
    assert rg1.shape == (1, 1955, 1841) and rg1.dtype == torch.float32
    # air above the shoulders (top corners) is the darkest part, bone (clavicles, spine) bright
    corner = float(_region(rg1, [0.9, 0.02, 0.99, 0.08]).median())
    lung = float(_region(rg1, [0.6, 0.3, 0.75, 0.45]).median())
    spine = float(_region(rg1, [0.45, 0.15, 0.52, 0.45]).median())
    assert corner < lung < spine
    assert corner < 0.3


def test_rg1_lung_fields_darker_than_the_mediastinum(rg1):
    mediastinum = float(_region(rg1, [0.44, 0.15, 0.53, 0.45]).median())
    for side in ("right lung", "left lung"):
        x0, y0, x1, y1 = REFERENCE[side]
        core = [x0 + 0.25 * (x1 - x0), y0 + 0.2 * (y1 - y0), x1 - 0.25 * (x1 - x0), y0 + 0.5 * (y1 - y0)]
        assert mediastinum - float(_region(rg1, core).median()) > 0.15


def test_rg1_uses_the_files_voi_window(rg1):
    ds = pydicom.dcmread(dicom_testdata("RG1_UNCR.dcm"))
    raw = ds.pixel_array.astype(np.float64)
    center, width = float(ds.WindowCenter), float(ds.WindowWidth)
    expected = 1 - np.clip((raw - (center - 0.5)) / (width - 1) + 0.5, 0, 1)
    assert np.allclose(rg1[0].numpy(), expected, atol=1e-5)


def test_jpeg2000_twin_gives_the_same_pixels(rg1):
    if not _has_jpeg2000_decoder():
        pytest.skip("no JPEG 2000 decoder: pip install 'cxrgraph[dicom]' (pylibjpeg-openjpeg)")
    twin = read_image(dicom_testdata("RG1_J2KR.dcm"))
    assert torch.equal(twin, rg1)


def test_missing_decoder_names_the_extra(monkeypatch):
    path = dicom_testdata("RG1_J2KR.dcm")

    def no_decoder(self):
        raise RuntimeError("Unable to decompress: all plugins are missing dependencies")

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(no_decoder))
    with pytest.raises(ImageInputError, match=r"RG1_J2KR.dcm.*JPEG 2000.*cxrgraph\[dicom\]"):
        read_image(path)


def _write(path, arr, photometric="MONOCHROME2", bits=12, frames=1, **attrs):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = (40, 48) if arr is None else arr.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits, bits - 1
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    for k, v in attrs.items():
        setattr(ds, k, v)
    if arr is not None:
        ds.PixelData = arr.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def _ramp():
    return np.tile(np.linspace(0, 4095, 48).astype(np.uint16), (40, 1))


def test_monochrome1_and_bits_stored_without_a_window(tmp_path):
    arr = _ramp()
    m2, m1 = read_image(_write(tmp_path / "m2.dcm", arr)), read_image(_write(tmp_path / "m1.dcm", arr, "MONOCHROME1"))
    assert m2.shape == (1, 40, 48)
    assert float(m2[0, 0, -1]) == pytest.approx(1.0) and float(m2[0, 0, 0]) == 0.0
    assert torch.allclose(m1, 1 - m2)
    (tmp_path / "bad.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"garbage")
    with pytest.raises(ImageInputError, match=r"bad.dcm.*corrupt or unreadable DICOM"):
        read_image(tmp_path / "bad.dcm")


def test_window_rescale_and_voi_functions(tmp_path):
    arr = _ramp()
    # window 1000..3000 in modality values: below is black, above white
    img = read_image(_write(tmp_path / "w.dcm", arr, WindowCenter=2000, WindowWidth=2001))
    assert float(img[0, 0, 0]) == 0.0 and float(img[0, 0, -1]) == 1.0
    mid = int(np.argmin(np.abs(arr[0].astype(float) - 2000)))
    assert float(img[0, 0, mid]) == pytest.approx(0.5, abs=0.03)
    # rescale slope / intercept move the modality values the window applies to
    shifted = read_image(
        _write(tmp_path / "r.dcm", arr, WindowCenter=2000, WindowWidth=2001, RescaleSlope=1, RescaleIntercept=-1000)
    )
    assert float(shifted[0, 0, mid]) < float(img[0, 0, mid])
    sig = read_image(_write(tmp_path / "s.dcm", arr, WindowCenter=2000, WindowWidth=2000, VOILUTFunction="SIGMOID"))
    assert 0 < float(sig.min()) < 0.05 and 0.95 < float(sig.max()) < 1
    m1 = read_image(_write(tmp_path / "m1.dcm", arr, "MONOCHROME1", WindowCenter=2000, WindowWidth=2001))
    assert torch.allclose(m1, 1 - img)


def test_voi_lut_sequence(tmp_path):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.LUTData = np.minimum(255, np.arange(4096) // 8).astype(np.uint16).tobytes()  # saturates at 2040
    ds_path = _write(tmp_path / "lut.dcm", _ramp(), VOILUTSequence=Sequence([item]))
    img = read_image(ds_path)
    assert float(img[0, 0, 0]) == 0.0 and float(img[0, 0, -1]) == 1.0
    assert float(img[0, 0, 24]) == 1.0  # past the LUT's knee


def test_no_window_gets_a_robust_percentile_window(tmp_path):
    arr = np.full((40, 48), 1000, np.uint16)
    arr[:, 24:] = 1400
    arr[0, 0] = 4095  # one hot pixel does not set the scale
    img = read_image(_write(tmp_path / "p.dcm", arr))
    assert float(img[5, 5] if img.dim() == 2 else img[0, 5, 5]) == 0.0
    assert float(img[0, 5, 30]) == 1.0


def test_multiframe_and_non_image_objects_are_refused(tmp_path):
    two = np.stack([_ramp(), _ramp()])
    with pytest.raises(ImageInputError, match=r"multi.dcm.*multi-frame DICOM \(2 frames"):
        read_image(_write(tmp_path / "multi.dcm", two, frames=2))
    with pytest.raises(ImageInputError, match=r"report.dcm.*not a radiograph: no pixel data"):
        read_image(_write(tmp_path / "report.dcm", None))


def test_16bit_png_of_12bit_data_uses_12_bits(tmp_path):
    arr = np.linspace(0, 4095, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / "twelve.png")
    img = read_image(tmp_path / "twelve.png")
    assert float(img.max()) == pytest.approx(1.0)
    assert torch.allclose(img[0], torch.from_numpy(arr / 4095.0).float(), atol=1e-6)
