"""Writes src/tag-names.json, the tags panel's keywords: tag (GGGGEEEE) -> keyword, from
pydicom's data dictionary (PS3.6). Run with the project's venv when pydicom is upgraded:
    .venv/bin/python viewer/tag_names.py
"""

import json
from pathlib import Path

from pydicom.datadict import DicomDictionary

OUT = Path(__file__).resolve().parent / "src" / "tag-names.json"


def main() -> None:
    names = {f"{tag:08X}": entry[4] for tag, entry in sorted(DicomDictionary.items()) if entry[4]}
    OUT.write_text(json.dumps(names, separators=(",", ":"), sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
