//! The order changes are applied in: a dependency graph (petgraph) over a plan's changes.
//!
//! An object comes after what it depends on when created or changed, and before it when
//! deleted (dependents go first). A cycle is reported naming every object in it.

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::collections::BinaryHeap;

use crate::address::Address;
use crate::plan::ResourceChange;

/// Changes and the order constraints between them.
#[derive(Debug, Clone)]
pub struct ChangeGraph {
    graph: DiGraph<usize, ()>,
}

impl ChangeGraph {
    /// Builds the graph of `changes`; an edge `a → b` means `a` must finish before `b` starts.
    pub fn build(changes: &[ResourceChange]) -> Result<Self, String> {
        let mut graph = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..changes.len()).map(|index| graph.add_node(index)).collect();
        let by_address: BTreeMap<&Address, usize> =
            changes.iter().enumerate().map(|(index, change)| (&change.address, index)).collect();
        for (index, change) in changes.iter().enumerate() {
            for dependency in &change.depends_on {
                let Some(&other) = by_address.get(dependency) else { continue };
                if change.action.deletes() && changes[other].action.deletes() {
                    graph.update_edge(nodes[index], nodes[other], ());
                } else {
                    graph.update_edge(nodes[other], nodes[index], ());
                }
            }
        }
        let this = Self { graph };
        if let Some(cycle) = this.cycle(changes) {
            return Err(cycle);
        }
        Ok(this)
    }

    fn cycle(&self, changes: &[ResourceChange]) -> Option<String> {
        tarjan_scc(&self.graph).into_iter().find_map(|component| {
            let cyclic = component.len() > 1
                || component.iter().any(|node| self.graph.contains_edge(*node, *node));
            cyclic.then(|| {
                let mut names: Vec<String> = component
                    .iter()
                    .map(|node| changes[self.graph[*node]].address.to_string())
                    .collect();
                names.sort();
                format!("{} → {}", names.join(" → "), names[0])
            })
        })
    }

    /// The change indexes in an order that respects every edge, ties broken by index (so
    /// address order when the changes are sorted by address): Kahn's algorithm with a min-heap.
    pub fn order(&self) -> Vec<usize> {
        let mut waiting = self.in_degrees();
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..waiting.len()).filter(|i| waiting[*i] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(waiting.len());
        while let Some(Reverse(index)) = ready.pop() {
            order.push(index);
            for dependent in self.dependents(index) {
                waiting[dependent] -= 1;
                if waiting[dependent] == 0 {
                    ready.push(Reverse(dependent));
                }
            }
        }
        order
    }

    /// How many changes must finish before each change may start, by index.
    pub fn in_degrees(&self) -> Vec<usize> {
        let mut degrees = vec![0; self.graph.node_count()];
        for edge in self.graph.raw_edges() {
            degrees[self.graph[edge.target()]] += 1;
        }
        degrees
    }

    /// The changes that wait for change `index`.
    pub fn dependents(&self, index: usize) -> Vec<usize> {
        self.graph.neighbors(NodeIndex::new(index)).map(|node| self.graph[node]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::ResourceAddress;
    use crate::plan::{Action, Reason};

    fn change(name: &str, action: Action, depends_on: &[&str]) -> ResourceChange {
        let mut change = ResourceChange::new(
            Address::baseline(ResourceAddress::new("local_setting", name)),
            "local",
            "local_setting",
            name,
            action,
            None,
            None,
            Reason::Baseline,
        );
        change.depends_on = depends_on
            .iter()
            .map(|d| Address::baseline(ResourceAddress::new("local_setting", *d)))
            .collect();
        change
    }

    #[test]
    fn creates_follow_dependencies_and_deletes_precede_them() {
        let creates = vec![change("b", Action::Create, &["a"]), change("a", Action::Create, &[])];
        assert_eq!(ChangeGraph::build(&creates).unwrap().order(), vec![1, 0]);
        let deletes = vec![change("a", Action::Delete, &[]), change("b", Action::Delete, &["a"])];
        assert_eq!(ChangeGraph::build(&deletes).unwrap().order(), vec![1, 0]);
    }

    #[test]
    fn a_cycle_names_its_members() {
        let changes =
            vec![change("a", Action::Create, &["b"]), change("b", Action::Create, &["a"])];
        let error = ChangeGraph::build(&changes).unwrap_err();
        assert_eq!(error, "local_setting.a → local_setting.b → local_setting.a");
    }
}
