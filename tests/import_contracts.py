"""A contract type for import-linter (`make lint`): no import cycle between modules.

import-linter's own `acyclic_siblings` looks for cycles between the siblings of one package;
a cycle that leaves the package (portal.a -> imaging.b -> portal.a) is not one of those.
This contract looks at the whole module graph of the root packages, lazy imports included,
and names the modules of each cycle it finds.
"""

from __future__ import annotations

import grimp
from importlinter.application import contract_utils, output
from importlinter.application.contract_utils import AlertLevel
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def module_cycles(graph: grimp.ImportGraph, roots: set[str] | None = None) -> list[list[str]]:
    """The strongly connected components of more than one module (each sorted), found with
    Tarjan's algorithm, iteratively. Only modules under `roots` (default: all) are visited."""
    modules = sorted(m for m in graph.modules if roots is None or m.split(".")[0] in roots)
    inside = set(modules)
    edges = {m: sorted(i for i in graph.find_modules_directly_imported_by(m) if i in inside) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in modules:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            for pos in range(child, len(edges[node])):
                succ = edges[node][pos]
                if succ not in index:
                    work.append((node, pos + 1))
                    work.append((succ, 0))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
    return sorted(found)


class AcyclicModulesContract(Contract):
    type_name = "acyclic_modules"

    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)
    unmatched_ignore_imports_alerting = fields.EnumField(AlertLevel, default=AlertLevel.ERROR)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph,
            ignore_imports=self.ignore_imports,  # type: ignore[arg-type]
            unmatched_alerting=self.unmatched_ignore_imports_alerting,  # type: ignore[arg-type]
        )
        roots = set(self.session_options.get("root_packages") or [self.session_options["root_package"]])
        cycles = module_cycles(graph, roots)
        details = []
        for cycle in cycles:
            members = set(cycle)
            details.append(
                [
                    (m, i)
                    for m in cycle
                    for i in sorted(graph.find_modules_directly_imported_by(m))
                    if i in members
                ]
            )
        return ContractCheck(
            kept=not cycles,
            warnings=list(removal.warnings),
            ignored_import_count=removal.ignored_import_count,
            metadata={"cycles": cycles, "imports": details},
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle, imports in zip(check.metadata["cycles"], check.metadata["imports"], strict=True):
            output.print_error(f"Import cycle between {len(cycle)} modules: {', '.join(cycle)}")
            for importer, imported in imports:
                output.print_error(f"- {importer} -> {imported}", bold=False)
            output.new_line()
