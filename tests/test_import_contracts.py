"""The import contract of `.importlinter` (run by `make lint`) catches what it is there for:
each test adds one forbidden import to the real module graph and expects a broken contract."""

from pathlib import Path

import grimp
import pytest
from importlinter import api
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.independence import IndependenceContract
from importlinter.contracts.layers import LayersContract

from tests.import_contracts import AcyclicModulesContract, module_cycles

CONFIG = str(Path(__file__).resolve().parent.parent / ".importlinter")
TYPES = {
    "layers": LayersContract,
    "forbidden": ForbiddenContract,
    "independence": IndependenceContract,
    "acyclic_modules": AcyclicModulesContract,
}


@pytest.fixture(scope="module")
def config():
    return api.read_configuration(CONFIG)


def _graph(config) -> grimp.ImportGraph:
    return grimp.build_graph(
        *config["session_options"]["root_packages"], include_external_packages=True, cache_dir=None
    )


def _contract(config, key: str):
    options = next(o for o in config["contracts_options"] if o["id"] == key)
    options = {k: v for k, v in options.items() if k not in ("id", "name", "type")}
    return TYPES[next(o for o in config["contracts_options"] if o["id"] == key)["type"]](
        key, config["session_options"], options
    )


def _kept(config, key: str, *extra: tuple[str, str]) -> bool:
    graph = _graph(config)
    for importer, imported in extra:
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="import x")
    return _contract(config, key).check(graph, verbose=False).kept


def test_every_contract_holds_today(config):
    assert {o["id"] for o in config["contracts_options"]} == {
        "layers",
        "pure",
        "pure-independent",
        "consent-port",
        "acyclic",
    }
    for options in config["contracts_options"]:
        assert _kept(config, options["id"]), options["name"]


@pytest.mark.parametrize(
    "importer,imported",
    [
        ("ledger.services", "portal.consent_services"),  # the ledger learns of consent
        ("ledger.selectors", "imaging.models"),  # ... or of scans
        ("core.keyvault", "portal.models"),  # plumbing reaches up into an app
        ("crypto.envelope", "core.keyvault"),  # a pure package reaches into Django plumbing
        ("imaging.pipeline", "imaging.api_views"),  # a service reaches up into the API
    ],
)
def test_a_back_arrow_breaks_the_layers_contract(config, importer, imported):
    assert not _kept(config, "layers", (importer, imported))


def test_django_in_a_pure_package_breaks_the_purity_contract(config):
    assert not _kept(config, "pure", ("crypto.sealing", "django.conf"))
    assert not _kept(config, "pure", ("ledger.merkle", "rest_framework"))


def test_consent_reaching_past_the_port_breaks_its_contract(config):
    assert not _kept(config, "consent-port", ("portal.consent_services", "imaging.models"))


def test_a_cycle_breaks_the_acyclic_contract(config):
    # merkle is imported by ledger.services; one import back closes a cycle
    assert not _kept(config, "acyclic", ("ledger.merkle", "ledger.services"))


def test_module_cycles_sees_a_cycle_that_leaves_its_package():
    graph = grimp.ImportGraph()
    for importer, imported in [
        ("portal.a", "imaging.b"),
        ("imaging.b", "portal.c"),
        ("portal.c", "portal.a"),
        ("portal.c", "ledger.d"),  # on no cycle
        ("ledger.d", "ledger.e"),
    ]:
        graph.add_import(importer=importer, imported=imported)
    assert module_cycles(graph) == [["imaging.b", "portal.a", "portal.c"]]
    graph.remove_import(importer="portal.c", imported="portal.a")
    assert module_cycles(graph) == []


def test_every_module_is_in_a_layer(config):
    """A new module must be placed in a layer, or the contract would not look at it."""
    layers = next(o for o in config["contracts_options"] if o["id"] == "layers")["layers"]
    listed = {m.strip().strip("()") for line in layers for m in line.replace("|", ":").split(":")}
    graph = grimp.build_graph(*config["session_options"]["root_packages"], cache_dir=None)
    roots = set(config["session_options"]["root_packages"])
    unplaced = [
        m
        for m in sorted(graph.modules)
        if m not in roots
        and ".migrations" not in m
        and not any(m == name or m.startswith(name + ".") for name in listed)
    ]
    assert unplaced == []
