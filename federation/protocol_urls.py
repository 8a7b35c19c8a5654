"""Machine protocol endpoints, mounted at the site root: c2sp.org/tlog-witness
(`/witness/add-checkpoint`), c2sp.org/tlog-tiles (`/tlog/...`), the signed node card
(`/.well-known/qmedchain-node`) and gossip between witnesses (`/network/gossip/...`)."""

from django.urls import path  # noqa: F401 - the endpoints add their routes here

urlpatterns: list = []
