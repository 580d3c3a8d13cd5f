"""Imaging costs: DICOM → FHIR ImagingStudy mapping throughput (pydicom's own test objects, headers and pixel
hashes), and the latency of one imaging prediction with its Grad-CAM heatmap, in process and over HTTP."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bindaas.bench._util import pct


def dicom_mapping(*, rounds: int = 20) -> dict[str, Any]:
    """Objects and megabytes mapped per second: read each object, hash it (SHA3-256), map the study to FHIR."""
    from pydicom.data import get_testdata_file

    from bindaas.imaging.dicom_fhir import dicom_to_bundle, read_objects

    series = Path(get_testdata_file("CT_small.dcm")).parent / "dicomdirtests" / "77654033" / "CT2"
    size = sum(p.stat().st_size for p in series.iterdir() if p.is_file())
    dicom_to_bundle(read_objects(series))  # warm the caches once
    started = time.perf_counter()
    for _ in range(rounds):
        bundle = dicom_to_bundle(read_objects(series))
    elapsed = time.perf_counter() - started
    study = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "ImagingStudy")
    per_round = study["numberOfInstances"]
    return {"dicom_objects_per_s": round(rounds * per_round / elapsed, 1),
            "dicom_mb_per_s": round(rounds * size / elapsed / 1e6, 2),
            "series": f"pydicom dicomdirtests CT2: {per_round} objects, {size / 1e6:.2f} MB"}


def imaging_prediction(*, calls: int = 30) -> dict[str, Any]:
    """One Br35H image → probability + Grad-CAM PNG: p50 / p99 in process, and over HTTP on the embedded chain
    with a lite0-frozen model trained on 120 images (the weights do not change the cost)."""
    from bindaas.api.app import create_app
    from bindaas.api.services import build_services
    from bindaas.api.server import running_server
    from bindaas.client import BindaasClient
    from bindaas.config import Settings
    from bindaas.demo import deploy_authorities
    from bindaas.ml.imaging.br35h import br35h_images
    from bindaas.ml.imaging.gradcam import grad_cam, heatmap_png
    from bindaas.ml.imaging.networks import Lite0Classifier

    paths = br35h_images().paths[:calls]
    images = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    model = Lite0Classifier().eval()
    grad_cam(model, images[0])
    in_process = []
    for rgb in images:
        t0 = time.perf_counter()
        heatmap_png(rgb, grad_cam(model, rgb)[1])
        in_process.append(1000 * (time.perf_counter() - t0))
    chain, authorities = deploy_authorities(None)
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="bindaas-bench-imaging-")))
    services = build_services(settings, chain=chain)
    http = []
    with running_server(create_app(settings, services=services)) as url, \
            BindaasClient(url, key=authorities[0].key) as client:
        client.sign_in()
        client.http.timeout = 600
        t0 = time.perf_counter()
        client.request("POST", "/models/train", json={"task": "brain-mri-tumour", "kind": "lite0-frozen",
                                                      "images": 120})
        train_s = time.perf_counter() - t0
        for path in paths:
            t0 = time.perf_counter()
            client.request("POST", "/predict/image", content=path.read_bytes(), headers={"content-type": "image/jpeg"})
            http.append(1000 * (time.perf_counter() - t0))
    services.engine.dispose()
    return {"gradcam_in_process_p50_ms": pct(in_process, 50), "gradcam_in_process_p99_ms": pct(in_process, 99),
            "predict_image_http_p50_ms": pct(http, 50), "predict_image_http_p99_ms": pct(http, 99),
            "train_lite0_frozen_120_images_s": round(train_s, 1), "calls": calls}


def imaging_bench() -> dict[str, Any]:
    return {**dicom_mapping(), **imaging_prediction()}
