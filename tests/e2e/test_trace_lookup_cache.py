"""Lookups by trace id from blocks through the real binary (issue 11, trace by id): the row
group's dictionary pages are cached, so a second lookup of the same trace takes them from the
cache (`spoor_engine_dictionary_cache_{hits,misses}_total`) and answers the same spans."""

from test_operations import CUT, blocks_written, send, tid


def spans_of(spoor, n):
    r = spoor.query(f"/api/traces/{tid(n)}")
    assert r.status_code == 200, (n, r.status_code, r.text)
    trace = r.json()["data"][0]
    assert trace["traceID"] == tid(n)
    return sorted(
        (s["spanID"], s["operationName"], s.get("references") and s["references"][0]["spanID"])
        for s in trace["spans"]
    )


def counters(spoor):
    return (
        spoor.metric("spoor_engine_dictionary_cache_hits_total"),
        spoor.metric("spoor_engine_dictionary_cache_misses_total"),
    )


def test_a_second_lookup_takes_the_dictionary_pages_from_the_cache(start_spoor, tmp_path):
    spoor = start_spoor("--data-dir", str(tmp_path / "data"), *CUT)
    send(spoor, range(1, 301), "cached", spans_per_trace=5)
    blocks_written(spoor, 1)
    assert counters(spoor) == (0, 0)

    first = spans_of(spoor, 7)
    assert len(first) == 5
    assert [op for _, op, _ in first] == sorted(f"op-{k}" for k in range(5))
    hits, misses = counters(spoor)
    assert misses > 0, "the first read of a row group decompresses its dictionaries"
    assert hits == 0

    # The same trace again: every dictionary page from the cache, the same spans.
    assert spans_of(spoor, 7) == first
    hits2, misses2 = counters(spoor)
    assert misses2 == misses
    assert hits2 == misses

    # Another trace of the same row group is served from the same cached pages, correctly.
    other = spans_of(spoor, 250)
    assert len(other) == 5 and other != first
    assert counters(spoor)[1] == misses

    # A trace that does not exist is still a 404.
    assert spoor.query(f"/api/traces/{tid(100_000)}").status_code == 404
