"""Machine protocol endpoints, mounted at the site root: c2sp.org/tlog-witness
(`/witness/add-checkpoint`), c2sp.org/tlog-tiles (`/tlog/...`), the signed node card
(`/.well-known/qmedchain-node`) and gossip between witnesses (`/network/gossip/...`)."""

from django.urls import path  # noqa: F401 - the endpoints add their routes here

from federation import views_gossip, views_protocol, views_tiles

urlpatterns: list = [
    path("witness/add-checkpoint", views_protocol.add_checkpoint, name="witness-add-checkpoint"),
    path(".well-known/qmedchain-node", views_protocol.node_card, name="node-card"),
    path("tlog/checkpoint", views_tiles.checkpoint, name="tlog-checkpoint"),
    path("tlog/tile/<path:rest>", views_tiles.tile, name="tlog-tile"),
    path("network/gossip/cosigned", views_gossip.cosigned, name="gossip-cosigned"),
]
