//! preview.svg and index.html (being written).

/// Placeholder until the preview lands.
pub struct Preview;
