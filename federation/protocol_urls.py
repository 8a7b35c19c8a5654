"""Machine protocol endpoints, mounted at the site root: c2sp.org/tlog-witness
(`/witness/add-checkpoint`), c2sp.org/tlog-tiles (`/tlog/...`), the signed node card
(`/.well-known/qmedchain-node`), gossip between witnesses (`/network/gossip/...`) and the node
API that peers' clinicians call under patients' consent (`/federation/v1/...`)."""

from django.urls import include, path

from federation import views_directory, views_gossip, views_protocol, views_tiles

urlpatterns: list = [
    path("witness/add-checkpoint", views_protocol.add_checkpoint, name="witness-add-checkpoint"),
    path(".well-known/qmedchain-node", views_protocol.node_card, name="node-card"),
    path("tlog/checkpoint", views_tiles.checkpoint, name="tlog-checkpoint"),
    path("tlog/tile/<path:rest>", views_tiles.tile, name="tlog-tile"),
    path("network/gossip/cosigned", views_gossip.cosigned, name="gossip-cosigned"),
    path("network/directory", views_directory.clinician_directory, name="clinician-directory"),
    path("federation/v1/", include("federation.node_api_urls")),
]
