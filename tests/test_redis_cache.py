"""The shared cache (config.redis_cache) keeps one Redis client and still behaves like Django's."""

from __future__ import annotations

from django.core.cache import cache, caches

from config.redis_cache import RedisCache


def test_the_test_run_uses_the_project_redis_cache():
    assert isinstance(caches["default"], RedisCache)  # make test runs with REDIS_URL set


def test_one_client_serves_every_call_and_the_cache_api_holds():
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client() is client and cache._cache.get_client(write=True) is client
    cache.set("redis-cache-test:a", {"n": 1}, 30)
    found = cache.get_many(["redis-cache-test:a", "redis-cache-test:missing"])
    assert found == {"redis-cache-test:a": {"n": 1}}
    assert cache.add("redis-cache-test:n", 0, 30) and not cache.add("redis-cache-test:n", 5, 30)
    assert cache.incr("redis-cache-test:n") == 1
    cache.delete_many(["redis-cache-test:a", "redis-cache-test:n"])
    assert cache.get("redis-cache-test:a") is None
