//! One query after planning: a cell template and a layout, its cells made on demand.

use std::sync::Arc;

use super::cell::Cell;
use super::layout::Layout;

/// One query after planning: its cells are generated on demand, so a huge area costs no memory.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlannedQuery {
    /// The cell template: everything but the area.
    pub(crate) template: Cell,
    pub(crate) layout: Layout,
    /// v3 usernames to resolve to userkeys before the first request.
    pub(crate) usernames: Vec<String>,
    /// v3 userkeys given by the job.
    pub(crate) userkeys: Vec<String>,
}

impl PlannedQuery {
    /// The initial cells, with the v3 user filter `userkeys` (if any) applied.
    pub(crate) fn cells<'a>(&'a self, userkeys: &'a [String]) -> impl Iterator<Item = Cell> + 'a {
        let count = self.layout.len();
        (0..count).map(move |index| {
            let mut cell = self.template.clone();
            if count > 1 {
                cell.label = format!("{} cell {}/{count}", cell.label, index + 1);
            }
            cell.area = Some(self.layout.area(index));
            if !userkeys.is_empty() {
                cell.params.push(("userkeys", userkeys.join(",")));
            }
            cell
        })
    }

    pub(crate) fn label(&self) -> &str {
        &self.template.label
    }

    /// True when both send the same requests (their labels aside): they would share every
    /// cell's cache key, and so its log.
    pub(crate) fn same_requests(&self, other: &PlannedQuery) -> bool {
        let unlabelled = |cell: &Cell| Cell {
            label: String::new(),
            query: Arc::from(""),
            ..cell.clone()
        };
        unlabelled(&self.template) == unlabelled(&other.template)
            && self.layout == other.layout
            && self.usernames == other.usernames
            && self.userkeys == other.userkeys
    }

    /// The query's label in progress events.
    pub(crate) fn query(&self) -> &Arc<str> {
        &self.template.query
    }

    /// The number of initial cells.
    pub(crate) fn cell_count(&self) -> usize {
        self.layout.len()
    }
}
