"""Django's Redis cache, keeping one `redis.Redis` client per connection pool.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` on every cache call, and
each one fills a table of about 170 response callbacks: a fifth of a millisecond of CPU per
authorized API read (the token-cache generation, the rate counter), for nothing. A
`redis.Redis` over a connection pool is safe to share between threads, so one per pool is
kept and reused. Everything else is Django's backend unchanged (`CACHES` in settings).
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusedClients(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients[index] = self._client(connection_pool=self._pools[index])
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict) -> None:
        super().__init__(server, params)
        self._class = ReusedClients
