"""Imaging costs: DICOM → FHIR ImagingStudy mapping throughput (pydicom's own test objects, headers and pixel
hashes), and the latency of one imaging prediction with its Grad-CAM heatmap, in process and over HTTP."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bindaas.bench._util import pct, scratch_dir


def dicom_mapping(*, rounds: int = 20) -> dict[str, Any]:
    """Objects and megabytes mapped per second (read each object, hash it with SHA3-256, map the study to FHIR),
    for pydicom's 4-object CT series and, when pydicom-data is installed, its 7.2 MB chest radiograph."""
    from pydicom.data import get_testdata_file

    from bindaas.imaging.dicom_fhir import dicom_to_bundle, read_objects

    sources = {"ct_series": Path(get_testdata_file("CT_small.dcm")).parent / "dicomdirtests" / "77654033" / "CT2"}
    radiograph = get_testdata_file("RG1_UNCI.dcm")
    if radiograph is not None:
        sources["chest_radiograph"] = Path(radiograph)
    result: dict[str, Any] = {}
    for name, path in sources.items():
        objects = read_objects(path)
        size = sum(o.path.stat().st_size for o in objects)
        dicom_to_bundle(objects)  # warm the caches once
        started = time.perf_counter()
        for _ in range(rounds):
            dicom_to_bundle(read_objects(path))
        elapsed = time.perf_counter() - started
        result[name] = {"objects": len(objects), "mb": round(size / 1e6, 2),
                        "objects_per_s": round(rounds * len(objects) / elapsed, 1),
                        "mb_per_s": round(rounds * size / elapsed / 1e6, 1)}
    return {"dicom_mapping": result}


def imaging_prediction(*, calls: int = 30) -> dict[str, Any]:
    """One Br35H image → probability + Grad-CAM PNG: p50 / p99 in process, and over HTTP on the embedded chain
    with a lite0-frozen model trained on 120 images (the weights do not change the cost)."""
    from bindaas.api.app import create_app
    from bindaas.api.server import running_server
    from bindaas.api.services import build_services
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
    settings = Settings(data_dir=scratch_dir("bindaas-bench-imaging-"))
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
