"""The pictures show what the labels say: measured from the pixels, not from the drawing code."""

import numpy as np
import pytest

from cxrgraph.datasets.phantom import ChestFields, Lesion, PatientAnatomy, StudyPose, region_boxes, render
from cxrgraph.datasets.phantom.render import ctr_for_level
from cxrgraph.ontology import get_ontology

SIZE = 256


def _study(seed: int, lesions=(), cardio_level: int = 0, pose: StudyPose | None = None):
    """Render a study; the same seed gives the same patient, pose and noise with or without lesions."""
    rng = np.random.default_rng(seed)
    anatomy = PatientAnatomy.sample(rng)
    pose = pose or StudyPose.sample(rng)
    f = ChestFields(anatomy, pose, SIZE, ctr=ctr_for_level(cardio_level, 0.0, anatomy.ctr))
    img = render(f, list(lesions), np.random.default_rng(seed + 1000))
    return img, region_boxes(f)


def _box_mean(img, box) -> float:
    x1, y1, x2, y2 = (int(v) for v in box)
    return float(img[y1:y2, x1:x2].mean())


def _measured_ctr(img: np.ndarray, boxes: np.ndarray) -> float:
    """Cardiothoracic ratio from intensity profiles.

    Rows: the middle of the film's chest (between the carina box and the diaphragm boxes, taken
    from the ground-truth boxes only to know which rows to look at). In each row (smoothed over
    5 px) the heart is the bright run around the brightest central pixel and the thorax spans
    the dark lung pixels (darker than the midpoint between lung and heart) between the chest walls.
    """
    onto = get_ontology()
    top = int(boxes[onto.region_index("carina"), 3])
    bottom = int(
        min(boxes[onto.region_index("right hemidiaphragm"), 1], boxes[onto.region_index("left hemidiaphragm"), 1])
    )
    k = np.ones(5) / 5
    heart_w, thorax_w = 0, 0
    for y in range(top, bottom):
        row = np.convolve(img[y], k, mode="same")
        c0, c1 = SIZE // 2 - SIZE // 8, SIZE // 2 + SIZE // 4
        centre = c0 + int(np.argmax(row[c0:c1]))
        lung_level = np.percentile(row[row > 0.08], 10)
        thr = 0.5 * (lung_level + row[centre])
        left = centre
        while left > 0 and row[left - 1] >= thr:
            left -= 1
        right = centre
        while right < SIZE - 1 and row[right + 1] >= thr:
            right += 1
        heart_w = max(heart_w, right - left + 1)
        # lungs: dark pixels between the chest walls (the first and last bright columns)
        walls = np.flatnonzero(row >= thr)
        cols = np.arange(SIZE)
        lung_cols = np.flatnonzero((row < thr) & (cols > walls[0]) & (cols < walls[-1]))
        if lung_cols.size:
            thorax_w = max(thorax_w, lung_cols[-1] - lung_cols[0] + 1)
    return heart_w / thorax_w


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cardiothoracic_ratio_above_half_iff_cardiomegaly(seed):
    pose = StudyPose.neutral()
    img, boxes = _study(seed, pose=pose)
    assert _measured_ctr(img, boxes) < 0.5
    for level in (1, 2, 3):
        lesion = Lesion("enlarged cardiac silhouette", level=level)
        img, boxes = _study(seed, [lesion], cardio_level=level, pose=pose)
        assert _measured_ctr(img, boxes) > 0.5, level


@pytest.mark.parametrize("side", ["right", "left"])
def test_effusion_whitens_its_costophrenic_angle(side):
    onto = get_ontology()
    cp = onto.region_index(f"{side} costophrenic angle")
    other = onto.region_index(f"{'left' if side == 'right' else 'right'} costophrenic angle")
    healthy, boxes = _study(5)
    base = _box_mean(healthy, boxes[cp])
    prev = base
    for level in (1, 2, 3):
        img, _ = _study(5, [Lesion("pleural effusion", side, level=level)])
        mean = _box_mean(img, boxes[cp])
        assert mean > base + 0.05, (level, mean, base)
        assert mean >= prev - 0.01  # more fluid never darkens the angle
        prev = mean
        # the other side's angle stays as it was
        assert abs(_box_mean(img, boxes[other]) - _box_mean(healthy, boxes[other])) < 0.005


@pytest.mark.parametrize("finding", ["lung opacity", "consolidation", "atelectasis"])
@pytest.mark.parametrize("zone", ["upper", "mid", "lower"])
def test_opacity_contrast_inside_its_region_box(finding, zone):
    onto = get_ontology()
    region = onto.region_index(f"right {zone} lung zone")
    mirror = onto.region_index(f"left {zone} lung zone")
    healthy, boxes = _study(9)
    img, _ = _study(9, [Lesion(finding, "right", zone, level=2, u=0.5, v=0.5, seed=42)])
    inside = _box_mean(img, boxes[region]) - _box_mean(healthy, boxes[region])
    elsewhere = _box_mean(img, boxes[mirror]) - _box_mean(healthy, boxes[mirror])
    assert inside > 0.01, inside
    assert abs(elsewhere) < 0.1 * inside


def test_severity_raises_contrast():
    onto = get_ontology()
    region = onto.region_index("left lower lung zone")
    healthy, boxes = _study(4)
    contrasts = []
    for level in (1, 2, 3):
        img, _ = _study(4, [Lesion("lung opacity", "left", "lower", level=level, seed=3)])
        contrasts.append(_box_mean(img, boxes[region]) - _box_mean(healthy, boxes[region]))
    assert contrasts[0] < contrasts[1] < contrasts[2]


def test_nodule_is_a_small_bright_spot_in_its_zone():
    onto = get_ontology()
    healthy, boxes = _study(8)
    img, _ = _study(8, [Lesion("mass/nodule (not otherwise specified)", "left", "upper", seed=500_000)])
    diff = img - healthy
    y, x = np.unravel_index(np.argmax(diff), diff.shape)
    x1, y1, x2, y2 = boxes[onto.region_index("left upper lung zone")]
    assert x1 <= x < x2 and y1 <= y < y2
    assert diff.max() > 0.15
    assert (diff > 0.05).sum() < 0.01 * SIZE * SIZE  # small


def test_pneumothorax_clears_the_lung_edge():
    """Beyond the pleural line the lung markings vanish: the strip along the chest wall gets darker
    and flatter (same patient, pose and noise, so only the markings can make the difference)."""
    onto = get_ontology()
    healthy, boxes = _study(6)
    img, _ = _study(6, [Lesion("pneumothorax", "right", level=3)])
    x1, y1, x2, y2 = (int(v) for v in boxes[onto.region_index("right mid lung zone")])
    strip = (slice(y1, y2), slice(x1 + 3, x1 + 3 + SIZE // 32))  # inside the wall, short of the pleural line
    diff = img - healthy
    assert diff[strip].mean() < -0.01
    assert diff[strip].max() <= 1e-6  # only taken away (markings, lung tissue), nothing added
    assert diff[strip].min() < -0.05  # the brightest markings are gone
    # the collapsed lung medial to the line keeps its markings untouched
    medial = (slice(y1, y2), slice(x2 - SIZE // 16, x2 - 2))
    assert np.abs(diff[medial]).max() < 1e-6
    # the pleural line: a bright edge deeper in, where the healthy lung has none
    deeper = (slice(y1, y2), slice(x1 + 3, x1 + 3 + SIZE // 8))
    assert (img[deeper] - healthy[deeper]).max() > 0.05
    # nothing happens on the other side
    l1, m1, l2, m2 = (int(v) for v in boxes[onto.region_index("left lung")])
    assert np.abs(img[m1:m2, l1:l2] - healthy[m1:m2, l1:l2]).max() < 1e-6


def test_edema_is_bilateral_and_perihilar():
    onto = get_ontology()
    healthy, boxes = _study(2)
    img, _ = _study(2, [Lesion("pulmonary edema/hazy opacity", level=3)])
    for side in ("right", "left"):
        hil = _box_mean(img, boxes[onto.region_index(f"{side} hilar structures")])
        hil0 = _box_mean(healthy, boxes[onto.region_index(f"{side} hilar structures")])
        apex = _box_mean(img, boxes[onto.region_index(f"{side} apical zone")])
        apex0 = _box_mean(healthy, boxes[onto.region_index(f"{side} apical zone")])
        assert hil - hil0 > 0.03
        assert hil - hil0 > 2 * (apex - apex0)  # haze centred on the hila


@pytest.mark.parametrize(
    "finding,region",
    [
        ("endotracheal tube", "trachea"),
        ("enteric tube", "abdomen"),
        ("picc", "svc"),
        ("ij line", "svc"),
        ("cardiac pacer and wires", "cardiac silhouette"),
    ],
)
def test_devices_are_drawn_through_their_region(finding, region):
    onto = get_ontology()
    healthy, boxes = _study(12)
    img, _ = _study(12, [Lesion(finding)])
    x1, y1, x2, y2 = (int(v) for v in boxes[onto.region_index(region)])
    assert (img[y1:y2, x1:x2] - healthy[y1:y2, x1:x2]).max() > 0.1


def test_render_is_deterministic_and_seed_sensitive():
    a, _ = _study(1, [Lesion("lung opacity", "left", "mid", 2)])
    b, _ = _study(1, [Lesion("lung opacity", "left", "mid", 2)])
    c, _ = _study(2, [Lesion("lung opacity", "left", "mid", 2)])
    assert a.dtype == np.float32 and a.shape == (SIZE, SIZE)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0.0 and a.max() <= 1.0
