"""core.cache: Django's Redis cache with one client per pool (make test runs on Redis)."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.core.cache import caches

from core.cache import RedisCache


@pytest.fixture
def redis_cache():
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        pytest.skip("the run's cache is not Redis (the smoke run's file cache)")
    return backend


def test_one_client_is_reused_for_every_call(redis_cache):
    client = redis_cache._cache.get_client(write=True)
    assert redis_cache._cache.get_client("any", write=True) is client
    assert redis_cache._cache.get_client() is client  # one server: reads use the same pool


def test_the_shared_client_serves_concurrent_threads(redis_cache):
    key = f"test-core-cache-{uuid.uuid4().hex}"
    redis_cache.set(key, 0, 60)
    client = redis_cache._cache.get_client(write=True)

    def bump():
        for _ in range(200):
            client.incr(redis_cache.make_and_validate_key(key))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert redis_cache.get(key) == 800
    redis_cache.delete(key)
