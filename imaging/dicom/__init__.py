"""DICOM pieces without Django (pure): where an upload sits in the hierarchy (`identity`), the
DICOM JSON model (`json_model`), multipart/related bodies (`multipart`), QIDO-RS query
parameters (`query`), frames and rendering of a data set (`frames`, `render`) and the secondary
capture that a PNG/JPEG upload becomes (`secondary_capture`), and the de-identification of an
instance for research (`deid`, PS3.15 Annex E). The web side is imaging.dicomweb."""
