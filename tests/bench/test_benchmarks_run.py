"""Every benchmark of bench/ runs at its smallest size (`python -m bench --size smoke`) and produces its figures,
so a benchmark cannot break unnoticed (issue 20). Nothing here is timed: the figures are only checked to exist
and to be consistent; the measurements are taken on a quiet machine at the sizes in bench/README.md."""

from __future__ import annotations

import pytest

from bench.run_all import KEY_FIGURES, SIZES, run_all, table
from infra.stack import PROVINCES, PROVINCIAL_SERVICES

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]


def test_every_benchmark_runs_at_its_smallest_size(redis_url: str) -> None:
    # A broker of their own (run_all starts one): the benchmarks' suites leave a few hundred partitions and groups
    # behind, which slowed every later consumer's group join on the tests' shared broker past the start-up timeout.
    outcomes = run_all("smoke", redis_url=redis_url, limit=180)
    print("\n" + table(outcomes))
    assert [o.benchmark.name for o in outcomes] == [b.name for b in SIZES["smoke"]]
    assert {o.benchmark.name for o in outcomes} == set(KEY_FIGURES), "a benchmark of bench/ is left out"
    assert [(o.benchmark.name, o.error) for o in outcomes if o.error] == []
    figures = {o.benchmark.name: o.figures for o in outcomes}

    lookup = figures["batch_to_lookup"]
    candidates = SIZES["smoke"][0].options["candidates"]
    assert lookup["candidates"] == candidates and lookup["database"] == "sqlite"
    assert lookup["lookup_requests"] >= candidates
    assert lookup["approve_to_all_found_seconds"] > 0 and lookup["certificates_per_second"] > 0
    assert lookup["verified_number"].startswith("S000033")
    assert lookup["approve_to_done_seconds"] >= lookup["verified_other_province_seconds"] > 0
    assert lookup["verified_public_seconds"] > 0
    services = {f"{s}-{p}" for p in PROVINCES for s in PROVINCIAL_SERVICES} | {"query", "query-projector"}
    assert set(lookup["peak_rss_mb"]) == services
    assert all(mb > 0 for mb in lookup["peak_rss_mb"].values())
    assert lookup["max_process_rss_mb"] <= lookup["max_service_rss_mb"]

    recognition = figures["recognition_batch"]
    steps = ("upload", "submit", "plan_approval", "record_results", "publish_results", "approve")
    assert all(recognition[f"{step}_seconds"] > 0 for step in steps)
    assert recognition["approve_to_handed_off_seconds"] > 0 and recognition["peak_rss_megabytes"] > 0

    issued = figures["certificate_batch"]
    assert issued["signatures"] == issued["parts"]  # one signature a part of 500
    assert 0 < issued["signed_and_stored_seconds"] <= issued["all_published_seconds"]  # from the parts on Kafka

    query = figures["query"]
    assert query["bare"]["rps"] > 0 and query["lookup"]["rps"] > 0
    assert query["lookup"]["errors"] == 0, "the lookup answered something other than 200 for a loaded certificate"
    options = {b.name: b.options for b in SIZES["smoke"]}
    assert query["lag_ms"]["count"] == options["query"]["lag_certificates"]

    rebuilt = figures["rebuild"]
    assert rebuilt["certificates"] == options["rebuild"]["certificates"]
    assert rebuilt["rebuilt_events"] >= rebuilt["certificates"]
    assert rebuilt["ready_seconds"] > 0 and rebuilt["certificates_per_second"] > 0
    assert rebuilt["waiting_for_key_or_filing"] == 0 and rebuilt["sampled_documents"] > 0
    assert rebuilt["document_bytes"] > 0 and rebuilt["projector_peak_rss_mb"] > 0
