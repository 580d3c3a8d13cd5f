"""Prediction latency (in-process and over HTTP, p50/p99) and training time per model on Framingham.

Run: .venv/bin/python scripts/bench_predict.py [--records 600] [--rate 200] [--requests 1000]
(`bindaas bench` runs this too, beside the ingest and chain measurements.)
"""

from __future__ import annotations

import argparse
import json

from bindaas.ml.benchmark import predict_bench

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=600)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(predict_bench(records=args.records, rate=args.rate, requests=args.requests), indent=2))
