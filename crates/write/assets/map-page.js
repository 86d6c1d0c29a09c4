// mly-export's map page: draws window.MLY_MAP_DATA (map-data.js) with Leaflet on one canvas.
// Layers are data-driven: any layer in the data gets a switch, a colour and popups.
(function () {
  "use strict";
  var status = document.getElementById("map-status");
  var data = window.MLY_MAP_DATA;
  if (!window.L || !data) {
    status.textContent = "The map cannot be drawn: leaflet/leaflet.js or map-data.js is " +
      "missing beside this page.";
    document.body.setAttribute("data-map-ready", "error");
    return;
  }
  var STYLES = {
    areas: { color: "#d9534f", weight: 2, dashArray: "6 3", fillOpacity: 0.06 },
    sequences: { color: "#2a7ab0", weight: 2, opacity: 0.9 },
    sequence_points: { color: "#1b8a3a", radius: 2.5 },
    images: { color: "#e08a00", radius: 3 }
  };
  var PALETTE = ["#7b3fa0", "#00897b", "#c2185b", "#5d4037", "#455a64"];
  var renderer = L.canvas({ padding: 0.5, tolerance: 3 });
  var map = L.map("map", { preferCanvas: true, renderer: renderer });
  var control = L.control.layers(null, null, { collapsed: false }).addTo(map);
  var bounds = L.latLngBounds([]);
  var groups = {};

  function label(name) {
    return name.replace(/_/g, " ");
  }

  function latLngs(flat) {
    var out = new Array(flat.length / 2);
    for (var i = 0; i < flat.length; i += 2) {
      out[i / 2] = [flat[i + 1], flat[i]];
      bounds.extend(out[i / 2]);
    }
    return out;
  }

  function shape(geometry, flat, style) {
    var points = latLngs(flat);
    if (geometry === "Point") return L.circleMarker(points[0], style);
    if (geometry === "Polygon") return L.polygon(points, style);
    return L.polyline(points, style);
  }

  function popup(layer, feature) {
    var box = document.createElement("div");
    box.className = "mly-popup";
    var heading = document.createElement("b");
    heading.textContent = label(layer.name);
    box.appendChild(heading);
    var table = document.createElement("table");
    layer.fields.forEach(function (name, k) {
      var value = feature[k + 1];
      if (value === null || value === undefined) return;
      var row = table.insertRow();
      var th = document.createElement("th");
      th.textContent = name;
      row.appendChild(th);
      var td = row.insertCell();
      if (name === "url" && /^https?:\/\//.test(String(value))) {
        var link = document.createElement("a");
        link.href = String(value);
        link.target = "_blank";
        link.rel = "noopener";
        link.textContent = String(value);
        td.appendChild(link);
      } else {
        td.textContent = String(value);
      }
    });
    box.appendChild(table);
    return box;
  }

  var summary = [];
  data.layers.forEach(function (layer, index) {
    var style = L.extend({ renderer: renderer, weight: 1, fillOpacity: 0.85 },
      STYLES[layer.name] || { color: PALETTE[index % PALETTE.length], radius: 4 });
    var group = L.featureGroup();
    layer.features.forEach(function (feature, i) {
      var drawn = shape(layer.geometry, feature[0], style);
      drawn.mlyIndex = i;
      group.addLayer(drawn);
    });
    group.on("click", function (event) {
      L.popup({ maxWidth: 360 })
        .setLatLng(event.latlng)
        .setContent(popup(layer, layer.features[event.layer.mlyIndex]))
        .openOn(map);
    });
    group.addTo(map);
    groups[layer.name] = group;
    var count = layer.drawn === layer.total ? String(layer.total) :
      layer.drawn + " of " + layer.total;
    control.addOverlay(group, "<span class=\"mly-swatch\" style=\"background:" + style.color +
      "\"></span>" + label(layer.name) + " (" + count + ")");
    summary.push(label(layer.name) + ": " + count);
  });

  if (bounds.isValid()) {
    map.fitBounds(bounds, { padding: [20, 20], maxZoom: 18, animate: false });
  } else {
    map.setView([20, 0], 2);
  }

  if (data.sampled) {
    var note = document.getElementById("map-note");
    note.hidden = false;
    note.textContent = "This map draws a sample: the export has more than " +
      data.limit.toLocaleString("en") + " positions, so it draws the features whose key " +
      "hashes lowest, up to that many positions (the same export always draws the same " +
      "sample). Every feature is in the data files.";
  }

  var basemap = "no basemap (offline)";
  function showStatus() {
    status.textContent = "Drawn: " + summary.join(", ") + ". Basemap: " + basemap + ".";
  }
  showStatus();

  // Tiles only when the network answers: offline, the data alone is drawn on a plain ground.
  var osm = L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 19,
    attribution: "&copy; <a href=\"https://www.openstreetmap.org/copyright\">" +
      "OpenStreetMap</a> contributors"
  });
  var probe = new Image();
  probe.onload = function () {
    osm.addTo(map);
    control.addOverlay(osm, "OpenStreetMap basemap");
    basemap = "OpenStreetMap";
    showStatus();
  };
  probe.src = "https://tile.openstreetmap.org/0/0/0.png";

  window.mlyMap = { map: map, layers: groups };
  document.body.setAttribute("data-map-ready", "true");
})();
