"""What conditional GETs and compression save on the query API, measured in one run.

One real `eventshop serve query` process on embedded PostgreSQL, 100 published products;
wrk (Debian's ``wrk``) at 8 connections: a product by id answered in full (200), then the
same request with its ``If-None-Match`` (304), alternating ``--repeat`` times (this VM
drifts between runs; pairs cancel most of it). Then the bytes of a page of 100 products,
gzip against identity. Prints one JSON line. Targets: 304 rate at least 1.5 x the 200 rate;
compressed page at most 30 % of its bytes.
Run: .venv/bin/python -m bench.caching [--seconds 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics

import httpx2

from bench import wrk
from bench.limits import serving
from bench.support import bench_stack

TOKEN = "X-Consistency-Token"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.caching", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with bench_stack() as stack:
        stack.start_relay()
        stack.start_projectors("products")
        products, token = [], ""
        for n in range(100):
            body = {
                "sku": f"CACHE-{n}",
                "title": f"Cached product number {n}",
                "description": "A product of the caching bench, with a description.",
                "categories": ["bench"],
                "price": 100 + n,
            }
            made = stack.admin.post("/products", json=body).json()["id"]
            token = stack.admin.post(f"/products/{made}/publish").headers[TOKEN]
            products.append(made)
        assert stack.queries.get("/products?limit=100", headers={TOKEN: token}).status_code == 200
        with serving(stack, "query", limits=False) as (url, _):
            path = f"/products/{products[0]}"
            etag = httpx2.get(url + path).headers["ETag"]
            assert httpx2.get(url + path, headers={"If-None-Match": etag}).status_code == 304
            full, revalidated, ratios = [], [], []
            for _ in range(args.repeat):
                full.append(wrk.run(url, wrk.get(path), args.seconds, 8))
                # wrk counts a 304 as a success: it is below 400.
                revalidated.append(
                    wrk.run(url, wrk.get(path, {"If-None-Match": etag}), args.seconds, 8)
                )
                ratios.append(revalidated[-1].rps / full[-1].rps)
            identity = len(
                httpx2.get(
                    f"{url}/products?limit=100", headers={"Accept-Encoding": "identity"}
                ).content
            )
            with httpx2.stream(
                "GET", f"{url}/products?limit=100", headers={"Accept-Encoding": "gzip"}
            ) as answer:
                assert answer.headers["Content-Encoding"] == "gzip"
                compressed = sum(len(chunk) for chunk in answer.iter_raw())
        ratio = statistics.median(ratios)
        print(
            json.dumps(
                {
                    "bench": "caching",
                    "connections": 8,
                    "full_200_per_s": round(max(m.rps for m in full), 1),
                    "full_200_p99_ms": min(m.p99_ms for m in full),
                    "revalidated_304_per_s": round(max(m.rps for m in revalidated), 1),
                    "revalidated_304_p99_ms": min(m.p99_ms for m in revalidated),
                    "ratio_median_of_pairs": round(ratio, 3),
                    "ratios": [round(r, 3) for r in ratios],
                    "page_100_bytes": identity,
                    "page_100_gzip_bytes": compressed,
                    "compressed_fraction": round(compressed / identity, 3),
                    "targets": {"ratio": 1.5, "compressed_fraction": 0.3},
                    "met": ratio >= 1.5 and compressed / identity <= 0.3,
                }
            )
        )


if __name__ == "__main__":
    main()
