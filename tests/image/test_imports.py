import subprocess
import sys

import pytest

import cxrgraph.image


@pytest.mark.slow  # a fresh interpreter importing torch and Lightning
def test_core_image_modules_do_not_import_lightning():
    code = (
        "import sys\n"
        "from cxrgraph.image import AnatomyDetector, AtlasDetector, ImageGraph, RegionFeatureExtractor, read_image\n"
        "from cxrgraph.image import evaluate_detections, RegionBoxDataset\n"
        "assert 'lightning' not in sys.modules, 'lightning imported'\n"
        "from cxrgraph.image import AnatomyDetectorModule\n"
        "assert 'lightning' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_public_names_resolve():
    for name in cxrgraph.image.__all__:
        if name not in ("AnatomyDetectorModule", "train_detector"):
            assert getattr(cxrgraph.image, name) is not None
