//! Esri Shapefile writer (being written).
