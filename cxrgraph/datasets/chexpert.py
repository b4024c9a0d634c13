"""CheXpert label CSVs (``train.csv`` / ``valid.csv``).

A row that cannot be read (ragged, an age that is not a number, a label outside 1, 0, -1 and
blank, NaN or inf) is left out and recorded in :attr:`CheXpert.skipped`, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cxrgraph.datasets.errors import DatasetNotFoundError
from cxrgraph.datasets.io_utils import label_value, read_csv_rows, warn_skipped
from cxrgraph.ontology import get_ontology

__all__ = ["CheXpert", "CheXpertRecord"]

_HOW_TO_GET = (
    "CheXpert is distributed by the Stanford AIMI center under a research use agreement and cannot be "
    "downloaded by cxrgraph; pass the folder that holds train.csv and valid.csv as root."
)


@dataclass(frozen=True)
class CheXpertRecord:
    """One CheXpert image row: path, demographics, view and the 14 labels (1, 0, -1 or None)."""

    path: Path
    sex: str
    age: int | None
    frontal_lateral: str
    ap_pa: str
    labels: dict[str, float | None]


class CheXpert:
    """CheXpert ``train.csv`` / ``valid.csv`` rows with the 14 observations.

    Paths in the CSV start with the release folder (``CheXpert-v1.0-small/train/...``); they are
    resolved against ``root``'s parent when that is where the images are, else against ``root``.

    Args:
        root: Folder with ``train.csv`` and ``valid.csv``.
        split: ``"train"`` or ``"valid"``.
        frontal_only: Keep frontal images only.
    """

    pathologies = get_ontology().vocabulary("chexpert14")

    def __init__(self, root: str | Path, split: str = "train", frontal_only: bool = False) -> None:
        self.root = Path(root).expanduser()
        if split not in ("train", "valid"):
            raise ValueError(f"CheXpert split must be 'train' or 'valid', got {split!r}")
        path = self.root / f"{split}.csv"
        if not path.is_file():
            raise DatasetNotFoundError("CheXpert", f"{split}.csv", [path], _HOW_TO_GET)
        #: Rows left out, as ``(where, why)``.
        self.skipped: list[tuple[str, str]] = []
        rows = read_csv_rows(
            path, required=("Path", "Sex", "Age", "Frontal/Lateral", *self.pathologies), skipped=self.skipped
        )
        self.records: list[CheXpertRecord] = []
        for i, row in enumerate(rows):
            if frontal_only and row["Frontal/Lateral"] != "Frontal":
                continue
            try:
                labels = {label: label_value(row[label], label) for label in self.pathologies}
                age = _age(row["Age"])
            except ValueError as err:
                self.skipped.append((f"{path} row {i + 2}", str(err)))
                continue
            rel = Path(row["Path"])
            image = self.root.parent / rel if (self.root.parent / rel).exists() else self.root / rel
            self.records.append(
                CheXpertRecord(
                    path=image,
                    sex=row.get("Sex", ""),
                    age=age,
                    frontal_lateral=row.get("Frontal/Lateral", ""),
                    ap_pa=row.get("AP/PA", "") or "",
                    labels=labels,
                )
            )
        warn_skipped(f"CheXpert {split}.csv", self.skipped)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, idx: int) -> CheXpertRecord:
        return self.records[idx]


def _age(raw: str | None) -> int | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"Age={text!r} is not a number") from None
    if not 0 <= value < 150:  # also refuses nan and inf
        raise ValueError(f"Age={text!r} is not an age in years")
    return int(value)
