/* Desk Dispatcher map page.
 *
 * folium builds the page (Leaflet map + tile layer); this script adds everything else:
 * the offline basemap, technician / work-order / route layers fed from ONE data array
 * (DeskMap.setData), in-place updates (DeskMap.applyChanges), the selection overlay with
 * ranked candidates (DeskMap.showSelection), the legend with layer toggles, and the
 * QWebChannel bridge that reports clicks back to Python.
 *
 * Data arrays (compact; a full load's are formatted by the database, mapdata.load_map_arrays,
 * and changes' by desk_desktop/ui/map/payload.py — the same rows):
 *   t: [id, lat, lon, state(0 available|1 busy|2 off shift)]
 *   o: [id, lat, lon, priority(0 low..3 urgent), unassigned(0|1), techId|null]
 * Names, addresses and skills come from the application on hover (bridge.describe).
 *   r: [techId, orderId, lat1, lon1, lat2, lon2]
 */
(function () {
  "use strict";

  var TECH_STATES = ["available", "busy", "off_shift"];
  var TECH_STATE_LABELS = ["Available", "Busy", "Off shift"];
  var TECH_COLORS = ["#1e9e5a", "#8e44ad", "#9aa0a6"];
  var PRIORITIES = ["low", "medium", "high", "urgent"];
  var PRIORITY_LABELS = ["Low", "Medium", "High", "Urgent"];
  var PRIORITY_COLORS = ["#607d8b", "#1565c0", "#e65100", "#c62828"];  // as in the tickets view
  var PLAN_COLORS = ["#6a1b9a", "#00838f", "#ef6c00", "#2e7d32", "#ad1457", "#283593", "#6d4c41", "#00695c"];
  var STATUS_LABELS = {
    unassigned: "Unassigned", assigned: "Assigned", scheduled: "Scheduled",
    travelling: "Travelling", on_site: "On site", on_hold: "On hold"
  };
  var ROUTE_MIN_ZOOM = 10;
  var SMALL_LAYER = 400;

  // ---- canvas marker shapes ---------------------------------------------------------
  // Technicians are circles; work orders are diamonds (unassigned: larger, dark ring).
  L.Canvas.include({
    _updateDiamond: function (layer) {
      if (!this._drawing || layer._empty()) { return; }
      var p = layer._point, ctx = this._ctx, r = Math.max(Math.round(layer._radius), 1);
      ctx.beginPath();
      ctx.moveTo(p.x, p.y - r);
      ctx.lineTo(p.x + r, p.y);
      ctx.lineTo(p.x, p.y + r);
      ctx.lineTo(p.x - r, p.y);
      ctx.closePath();
      this._fillStroke(ctx, layer);
    }
  });
  var DiamondMarker = L.CircleMarker.extend({
    _updatePath: function () { this._renderer._updateDiamond(this); }
  });

  function techStyle(state) {
    return { radius: 7, color: "#ffffff", weight: 2, fillColor: TECH_COLORS[state], fillOpacity: 1, opacity: 1 };
  }
  function orderStyle(prio, unassigned) {
    return unassigned
      ? { radius: 10, color: "#1d2733", weight: 2.5, fillColor: PRIORITY_COLORS[prio], fillOpacity: 1, opacity: 1 }
      : { radius: 7, color: "#ffffff", weight: 1.5, fillColor: PRIORITY_COLORS[prio], fillOpacity: 0.75, opacity: 0.9 };
  }

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function sameRow(a, b) {
    if (a.length !== b.length) { return false; }
    for (var i = 0; i < a.length; i++) { if (a[i] !== b[i]) { return false; } }
    return true;
  }

  function clusterIcon(kind) {
    return function (cluster) {
      var n = cluster.getChildCount();
      var size = n < 10 ? 30 : n < 100 ? 36 : n < 1000 ? 42 : 48;
      return L.divIcon({
        html: "<div><span>" + n + "</span></div>",
        className: "desk-cluster desk-cluster-" + kind,
        iconSize: L.point(size, size)
      });
    };
  }

  var DeskMap = {
    map: null,
    bridge: null,
    tech: {},      // id -> {m: marker, d: data row}
    orders: {},    // id -> {m: marker, d: data row}
    routes: {},    // techId -> polyline
    layers: {},
    selection: null,
    tilesLoaded: 0,
    tileErrors: 0,
    lastDrawMs: null,

    init: function (map, tileLayer, config) {
      this.map = map;
      this.tileLayer = tileLayer || null;
      this.config = config || {};
      map.setMaxZoom(this.config.maxZoom || 19);  // markercluster needs it
      map.setMinZoom(2);
      map.attributionControl.setPrefix(false);

      map.createPane("basemap").style.zIndex = 150;     // under the tiles (200)
      map.createPane("routes").style.zIndex = 390;
      map.createPane("selection").style.zIndex = 640;   // above markers and clusters
      this.canvas = L.canvas({ padding: 0.1 });  // Leaflet's default: less to paint per redraw
      this.routeCanvas = L.canvas({ pane: "routes", padding: 0.1 });
      var c = this.canvas, i, p;
      this._techOpts = [];
      for (i = 0; i < 3; i++) { this._techOpts.push(L.extend({ renderer: c }, techStyle(i))); }
      this._orderOpts = [[], []];
      for (p = 0; p < 4; p++) {
        this._orderOpts[0].push(L.extend({ renderer: c, deskUnassigned: false }, orderStyle(p, false)));
        this._orderOpts[1].push(L.extend({ renderer: c, deskUnassigned: true }, orderStyle(p, true)));
      }
      this._tip = L.tooltip({ direction: "top", offset: [0, -8] });
      this.routeRows = {};
      this._routesBuilt = false;

      if (window.DESK_BASEMAP) {
        this.layers.basemap = L.geoJSON(window.DESK_BASEMAP, {
          pane: "basemap", interactive: false, attribution: "Outlines: Natural Earth",
          renderer: L.canvas({ pane: "basemap", padding: 0.5 }),
          style: { color: "#a7b4bf", weight: 1.2, fillColor: "#f2efe9", fillOpacity: 1 }
        }).addTo(map);
      }
      map.getContainer().classList.add("desk-map");

      var clusterOpts = this._clusterOpts = {
        chunkedLoading: false, showCoverageOnHover: false, spiderfyOnMaxZoom: true,
        removeOutsideVisibleBounds: true, disableClusteringAtZoom: 15,
        maxClusterRadius: function (z) { return z >= 12 ? 30 : 45; }
      };
      this._techLayer(0);
      // Work orders in two cluster groups: unassigned ones cluster on their own (red), so
      // they stand out at every zoom without counting through the clusters.
      this.layers.assigned = L.markerClusterGroup(L.extend({ iconCreateFunction: clusterIcon("orders") }, clusterOpts));
      this.layers.unassigned = L.markerClusterGroup(L.extend({ iconCreateFunction: clusterIcon("unassigned") }, clusterOpts));
      this.layers.orders = L.layerGroup([this.layers.assigned, this.layers.unassigned]);
      this.layers.routes = L.layerGroup();
      this.layers.selection = L.layerGroup().addTo(map);
      this.layers.orders.addTo(map);
      this._delegate(this.layers.assigned, "o");
      this._delegate(this.layers.unassigned, "o");
      this.routesWanted = true;
      map.on("zoomend", this._syncRoutes, this);

      this._legend().addTo(map);
      this._summaryControl().addTo(map);
      this._tileWatch();
      this._connectBridge();
    },

    // ---- data -------------------------------------------------------------------------
    // The whole picture in one call: {t, o, r, fit}.
    setData: function (data) {
      var t0 = performance.now();
      var nt = this._setTechnicians(data.t, data.r);
      var no = this._setOrders(data.o);
      return this._finishFull(t0, data.fit, { technicians: nt, orders: no, routes: data.r.length });
    },
    _setTechnicians: function (rows, routes) {
      var i, markers = [], group = this._techLayer(rows.length);
      this.layers.routes.clearLayers();
      this.tech = {}; this.routes = {}; this.routeRows = {}; this._routesBuilt = false;
      for (i = 0; i < rows.length; i++) {
        var m = this._techMarker(rows[i]);
        if (m) { markers.push(m); }
      }
      if (this._techsClustered()) { group.addLayers(markers); }
      else { for (i = 0; i < markers.length; i++) { group.addLayer(markers[i]); } }
      for (i = 0; i < routes.length; i++) { this._route(routes[i]); }
      return markers.length;
    },
    _setOrders: function (rows) {
      var i, assigned = [], unassigned = [];
      for (i = 0; i < rows.length; i++) { (rows[i][4] ? unassigned : assigned).push(rows[i]); }
      this.layers.assigned.options.disableClusteringAtZoom = assigned.length <= SMALL_LAYER ? 11 : 15;
      this.layers.unassigned.options.disableClusteringAtZoom = unassigned.length <= SMALL_LAYER ? 11 : 15;
      this.layers.assigned.clearLayers();  // also rebuilds the cluster grids with the option above
      this.layers.unassigned.clearLayers();
      this.orders = {};
      var build = function (list) {
        var out = [];
        for (var j = 0; j < list.length; j++) {
          var m = this._orderMarker(list[j]);
          if (m) { out.push(m); }
        }
        return out;
      };
      var a = build.call(this, assigned), u = build.call(this, unassigned);
      this.layers.assigned.addLayers(a);
      this.layers.unassigned.addLayers(u);
      return a.length + u.length;
    },
    // Technicians: up to SMALL_LAYER of them are drawn one by one at every zoom (readable at
    // city zoom, and at a region's zoom a few hundred dots are still few), and a move only
    // shifts the marker. Thousands cluster (group rebuilt when a full load crosses the line).
    // In a cluster group a move is a remove and an add, which rebuilds the marker's clusters
    // on every zoom level: objects that outlive V8's young generation and piled up as
    // garbage in the renderer over a day of live moves (bench soak).
    _techLayer: function (n) {
      var clustered = n > SMALL_LAYER, old = this.layers.technicians;
      if (old && (old instanceof L.MarkerClusterGroup) === clustered) {
        old.clearLayers();
        return old;
      }
      var shown = !old || this.map.hasLayer(old);
      if (old) { this.map.removeLayer(old); }
      var group = clustered
        ? L.markerClusterGroup(L.extend({ iconCreateFunction: clusterIcon("technicians") }, this._clusterOpts))
        : L.featureGroup();
      this._delegate(group, "t");
      this.layers.technicians = group;
      if (shown) { group.addTo(this.map); }
      return group;
    },
    _techsClustered: function () { return this.layers.technicians instanceof L.MarkerClusterGroup; },
    _orderGroup: function (d) { return d[4] ? this.layers.unassigned : this.layers.assigned; },
    _finishFull: function (t0, fit, result) {
      if (fit) { this.fitAll(); }
      this._updateSummary();
      this._syncRoutes();
      if (this.selection) { this._drawSelection(); }
      this.lastDrawMs = performance.now() - t0;
      this._afterDraw("data");
      return result;
    },

    // Upserts rows; ids listed in gone.t / gone.o / gone.r (technician ids) are removed.
    // A row as it is on the map already (e.g. a ticket's note was edited) leaves its marker
    // alone, a technician who only moved keeps their marker, a route keeps its line: live
    // changes arrive all day, and every marker built and dropped is garbage for the renderer.
    // The summary is counted again only when a marker came, went or changed its kind.
    applyChanges: function (ch) {
      var t0 = performance.now(), i, d, old, rebuilt = 0;
      var gone = ch.gone || { t: [], o: [], r: [] };
      for (i = 0; i < gone.t.length; i++) { if (this._removeTech(gone.t[i])) { rebuilt++; } }
      for (i = 0; i < gone.o.length; i++) { if (this._removeOrder(gone.o[i])) { rebuilt++; } }
      for (i = 0; i < gone.r.length; i++) { this._removeRoute(gone.r[i]); }
      for (i = 0; i < (ch.t || []).length; i++) {
        d = ch.t[i];
        old = this.tech[d[0]];
        if (old && sameRow(old.d, d)) { continue; }
        if (old && old.d[3] === d[3] && d[1] != null && d[2] != null && !this._techsClustered()) {
          old.m.setLatLng([d[1], d[2]]);
          old.d = d;
          continue;
        }
        this._removeTech(d[0]);
        rebuilt++;
        var tm = this._techMarker(d);
        if (tm) { this.layers.technicians.addLayer(tm); }
      }
      for (i = 0; i < (ch.o || []).length; i++) {
        d = ch.o[i];
        old = this.orders[d[0]];
        if (old && sameRow(old.d, d)) { continue; }
        this._removeOrder(d[0]);
        rebuilt++;
        var om = this._orderMarker(d);
        if (om) { this._orderGroup(d).addLayer(om); }
      }
      for (i = 0; i < (ch.r || []).length; i++) { this._route(ch.r[i]); }
      this._syncRoutes();
      if (rebuilt) { this._updateSummary(); }
      if (this.selection) { this._drawSelection(); }
      this.lastDrawMs = performance.now() - t0;
      this._afterDraw("changes");
      return rebuilt;
    },

    // Markers share one options object per style (no per-marker closures or handlers: the
    // cluster groups delegate clicks and tooltips), so 20,000 of them build quickly.
    _techMarker: function (d) {
      if (d[1] == null || d[2] == null) { return null; }
      var m = L.circleMarker([d[1], d[2]], this._techOpts[d[3]] || this._techOpts[0]);
      m._deskId = d[0];
      this.tech[d[0]] = { m: m, d: d };
      return m;
    },
    _orderMarker: function (d) {
      if (d[1] == null || d[2] == null) { return null; }
      var m = new DiamondMarker([d[1], d[2]], this._orderOpts[d[4] ? 1 : 0][d[3]] || this._orderOpts[0][1]);
      m._deskId = d[0];
      this.orders[d[0]] = { m: m, d: d };
      return m;
    },
    _delegate: function (group, kind) {
      var self = this;
      group.on("click", function (e) { if (e.layer && e.layer._deskId != null) { self._clicked(kind, e.layer._deskId); } });
      // The data array carries positions and states only; names, addresses and skills are
      // asked for on hover (the application has them), which keeps 20,000 rows small.
      group.on("mouseover", function (e) {
        var m = e.layer, entry = m && (kind === "t" ? self.tech[m._deskId] : self.orders[m._deskId]);
        if (!entry) { return; }
        var id = m._deskId;
        self._hover = kind + id;
        var show = function (html) {
          if (self._hover !== kind + id) { return; }
          // The application's rows may still be on their way right after a load: say what
          // the data array itself can tell until then.
          if (!html) { html = kind === "t" ? self._techTooltip(entry.d) : self._orderTooltip(entry.d); }
          self._tip.setLatLng(m.getLatLng()).setContent(html);
          self.map.openTooltip(self._tip);
        };
        if (self.bridge && self.bridge.describe) { self.bridge.describe(kind, id, show); }
        else { show(kind === "t" ? self._techTooltip(entry.d) : self._orderTooltip(entry.d)); }
      });
      group.on("mouseout", function () { self._hover = null; self.map.closeTooltip(self._tip); });
    },
    // A technician's line to their next job: a line already drawn is moved and recoloured.
    _route: function (r) {
      var line = this.routes[r[0]], old = this.routeRows[r[0]];
      this.routeRows[r[0]] = r;
      if (line) {
        if (!old || !sameRow(old, r)) { line.setLatLngs([[r[2], r[3]], [r[4], r[5]]]); }
        var color = this._routeColor(r[0]);
        if (line.options.color !== color) { line.setStyle({ color: color }); }
      } else if (this._routesBuilt) {
        this._routeLine(r);
      }
    },
    _routeColor: function (techId) {
      var t = this.tech[techId];
      return t ? TECH_COLORS[t.d[3]] : "#555";
    },
    _routeLine: function (r) {
      var line = L.polyline([[r[2], r[3]], [r[4], r[5]]], {
        renderer: this.routeCanvas, pane: "routes", color: this._routeColor(r[0]), weight: 2, opacity: 0.75,
        dashArray: "6 5", interactive: false
      });
      this.routes[r[0]] = line;
      this.layers.routes.addLayer(line);
    },
    _removeTech: function (id) {
      var t = this.tech[id];
      if (t) { this.layers.technicians.removeLayer(t.m); delete this.tech[id]; }
      return !!t;
    },
    _removeOrder: function (id) {
      var o = this.orders[id];
      if (o) { this._orderGroup(o.d).removeLayer(o.m); delete this.orders[id]; }
      return !!o;
    },
    _removeRoute: function (techId) {
      delete this.routeRows[techId];
      var r = this.routes[techId];
      if (r) { this.layers.routes.removeLayer(r); delete this.routes[techId]; }
    },
    _syncRoutes: function () {
      var show = this.routesWanted && this.map.getZoom() >= ROUTE_MIN_ZOOM;
      if (show && !this._routesBuilt) {  // lines are built the first time they can be seen
        this._routesBuilt = true;
        for (var k in this.routeRows) { this._routeLine(this.routeRows[k]); }
      }
      if (show && !this.map.hasLayer(this.layers.routes)) { this.layers.routes.addTo(this.map); }
      if (!show && this.map.hasLayer(this.layers.routes)) { this.map.removeLayer(this.layers.routes); }
      var note = document.getElementById("desk-routes-note");
      if (note) { note.style.display = (this.routesWanted && !show) ? "" : "none"; }
    },

    // Without the application's rows: what the data array itself can tell.
    _techTooltip: function (d) {
      return '<div class="desk-tip"><span class="desk-dot" style="background:' + TECH_COLORS[d[3]] + '"></span>' +
        TECH_STATE_LABELS[d[3]] + "</div>";
    },
    _orderTooltip: function (d) {
      return '<div class="desk-tip"><span style="color:' + PRIORITY_COLORS[d[3]] + ';font-weight:600">' +
        PRIORITY_LABELS[d[3]] + "</span>" + (d[4] ? ' · <span class="desk-unassigned">Unassigned</span>' : "") + "</div>";
    },

    // ---- a proposed day plan (Optimize day) ------------------------------------------------
    // routes: [{name, km, points: [[lat, lon], ...]}]: each technician's day from start to end.
    showPlan: function (routes) {
      var g = this.layers.plan || (this.layers.plan = L.layerGroup().addTo(this.map));
      var all = [], i, k;
      g.clearLayers();
      for (i = 0; i < routes.length; i++) {
        var r = routes[i], color = PLAN_COLORS[i % PLAN_COLORS.length];
        L.polyline(r.points, { pane: "selection", color: color, weight: 3, opacity: 0.85 })
          .bindTooltip(r.name + " · " + r.km.toFixed(1) + " km", { sticky: true }).addTo(g);
        for (k = 1; k < r.points.length - 1; k++) {
          L.circleMarker(r.points[k], { pane: "selection", radius: 5, color: color, weight: 2, fillColor: "#ffffff",
                                         fillOpacity: 1, interactive: false }).addTo(g);
        }
        all = all.concat(r.points);
      }
      if (all.length) { this.map.fitBounds(L.latLngBounds(all), { padding: [30, 30] }); }
      this.map.getPane("routes").style.opacity = routes.length ? 0.25 : 1;  // today's next-job lines step back
      return routes.length;
    },
    clearPlan: function () {
      if (this.layers.plan) { this.layers.plan.clearLayers(); }
      this.map.getPane("routes").style.opacity = this.selection ? 0.35 : 1;
      return 0;
    },

    // ---- selection --------------------------------------------------------------------
    // sel: {order: id, lat, lon, candidates: [{id, rank, lat, lon, name, eligible}], focus: bool}
    showSelection: function (sel) {
      this.selection = sel;
      this._drawSelection();
      if (sel && sel.focus !== false) { this._focus(sel); }
      return this.layers.selection.getLayers().length;
    },
    clearSelection: function () {
      this.selection = null;
      this.layers.selection.clearLayers();
      return 0;
    },
    _drawSelection: function () {
      var sel = this.selection, g = this.layers.selection, self = this;
      g.clearLayers();
      this.map.getPane("routes").style.opacity = sel ? 0.35 : 1;  // let the candidates stand out
      if (!sel) { return; }
      var o = L.latLng(sel.lat, sel.lon);
      (sel.candidates || []).forEach(function (c) {
        if (c.lat == null || c.lon == null) { return; }
        L.polyline([o, [c.lat, c.lon]], {
          pane: "selection", color: c.rank === 1 ? "#0b63ce" : "#4a6a8a", weight: c.rank === 1 ? 3 : 2,
          opacity: c.eligible ? 0.85 : 0.35, dashArray: c.rank === 1 ? null : "4 6", interactive: false
        }).addTo(g);
      });
      L.circleMarker(o, { pane: "selection", radius: 17, color: "#0b63ce", weight: 3, fill: false, interactive: false }).addTo(g);
      (sel.candidates || []).slice().reverse().forEach(function (c) {
        if (c.lat == null || c.lon == null) { return; }
        var m = L.marker([c.lat, c.lon], {
          pane: "selection",
          icon: L.divIcon({
            className: "desk-cand" + (c.rank === 1 ? " desk-cand-best" : "") + (c.eligible ? "" : " desk-cand-ineligible"),
            html: "<span>" + c.rank + "</span>", iconSize: [26, 26], iconAnchor: [13, 13]
          }),
          title: c.name, deskCandidate: c.id
        }).addTo(g);
        m.bindTooltip('<div class="desk-tip"><b>#' + c.rank + " " + esc(c.name) + "</b>" + (c.summary ? "<div>" + esc(c.summary) + "</div>" : "") + "</div>", { direction: "top", offset: [0, -12] });
        m.on("click", function () { self._clicked("t", c.id); });
      });
    },
    _focus: function (sel) {
      var o = L.latLng(sel.lat, sel.lon), pts = [o];
      (sel.candidates || []).slice(0, 3).forEach(function (c) {
        if (c.lat == null) { return; }
        pts.push(L.latLng(c.lat, c.lon));
        pts.push(L.latLng(2 * o.lat - c.lat, 2 * o.lng - c.lon));  // mirrored: keeps the order centred
      });
      if (pts.length === 1) {
        this.map.setView(o, Math.max(this.map.getZoom(), 13), { animate: false });
      } else {
        this.map.fitBounds(L.latLngBounds(pts), { padding: [40, 40], maxZoom: 15, animate: false });
        this.map.panTo(o, { animate: false });
      }
    },

    fitAll: function () {
      var pts = [], k;
      for (k in this.tech) { pts.push(this.tech[k].m.getLatLng()); }
      for (k in this.orders) { pts.push(this.orders[k].m.getLatLng()); }
      if (pts.length) { this.map.fitBounds(L.latLngBounds(pts), { padding: [30, 30], maxZoom: 14, animate: false }); }
      return pts.length;
    },

    // ---- queries used by the application and its tests ---------------------------------
    counts: function () {
      return {
        technicians: Object.keys(this.tech).length, orders: Object.keys(this.orders).length,
        routes: Object.keys(this.routeRows).length, selection: this.layers.selection.getLayers().length
      };
    },
    technicianPosition: function (id) {
      var t = this.tech[id];
      if (!t) { return null; }
      var ll = t.m.getLatLng();
      return [ll.lat, ll.lng, TECH_STATES[t.d[3]]];
    },
    orderInfo: function (id) {
      var o = this.orders[id];
      if (!o) { return null; }
      var ll = o.m.getLatLng();
      return { lat: ll.lat, lon: ll.lng, priority: PRIORITIES[o.d[3]], unassigned: !!o.d[4], technician: o.d[5] };
    },
    selectedCandidates: function () {
      return this.selection ? (this.selection.candidates || []).map(function (c) { return c.id; }) : [];
    },
    center: function () { var c = this.map.getCenter(); return [c.lat, c.lng, this.map.getZoom()]; },
    clickTechnician: function (id) { this._clicked("t", id); return !!this.tech[id]; },
    clickOrder: function (id) { this._clicked("o", id); return !!this.orders[id]; },

    // ---- legend, layer toggles, tiles, bridge ------------------------------------------
    setLayerVisible: function (name, on) {
      if (name === "routes") { this.routesWanted = on; this._syncRoutes(); }
      else if (name === "tiles") { if (this.tileLayer) { this.tileLayer.setOpacity(on ? 1 : 0); } }
      else {
        var layer = this.layers[name];
        if (!layer) { return false; }
        if (on && !this.map.hasLayer(layer)) { layer.addTo(this.map); }
        if (!on && this.map.hasLayer(layer)) { this.map.removeLayer(layer); }
      }
      var box = document.querySelector('input[data-layer="' + name + '"]');
      if (box) { box.checked = !!on; }
      return true;
    },
    _legend: function () {
      var self = this;
      var ctl = L.control({ position: "bottomleft" });
      ctl.onAdd = function () {
        var div = L.DomUtil.create("div", "desk-legend");
        var col1 = '<label class="desk-leg-head"><input type="checkbox" data-layer="technicians" checked> Technicians</label>';
        for (var i = 0; i < 3; i++) {
          col1 += '<div class="desk-leg-row"><span class="desk-dot" style="background:' + TECH_COLORS[i] + '"></span>' + TECH_STATE_LABELS[i] + "</div>";
        }
        col1 += '<label class="desk-leg-head"><input type="checkbox" data-layer="routes" checked> Next-job lines</label>';
        col1 += '<div class="desk-leg-row desk-muted" id="desk-routes-note" style="display:none">Zoom in to see them</div>';
        var col2 = '<label class="desk-leg-head"><input type="checkbox" data-layer="orders" checked> Work orders</label>';
        for (var p = 3; p >= 0; p--) {
          col2 += '<div class="desk-leg-row"><span class="desk-diamond" style="background:' + PRIORITY_COLORS[p] + '"></span>' + PRIORITY_LABELS[p] + "</div>";
        }
        col2 += '<div class="desk-leg-row"><span class="desk-diamond desk-diamond-un"></span>Unassigned</div>';
        var h = '<div class="desk-leg-cols"><div>' + col1 + "</div><div>" + col2 + "</div></div>";
        if (self.tileLayer) {
          h += '<label class="desk-leg-head desk-leg-foot"><input type="checkbox" data-layer="tiles" checked> Street map</label>';
        }
        h += '<div class="desk-offline" id="desk-offline" style="display:none">Street map unavailable: showing the built-in outline map</div>';
        div.innerHTML = h;
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        div.addEventListener("change", function (ev) {
          var name = ev.target.getAttribute("data-layer");
          if (name) { self.setLayerVisible(name, ev.target.checked); }
        });
        return div;
      };
      return ctl;
    },
    _summaryControl: function () {
      var ctl = L.control({ position: "topright" });
      ctl.onAdd = function () {
        var div = L.DomUtil.create("div", "desk-summary");
        div.id = "desk-summary";
        L.DomEvent.disableClickPropagation(div);
        return div;
      };
      return ctl;
    },
    _updateSummary: function () {
      var el = document.getElementById("desk-summary");
      if (!el) { return; }
      var k, byState = [0, 0, 0], nt = 0, no = 0, un = 0;
      for (k in this.tech) { nt++; byState[this.tech[k].d[3]]++; }
      for (k in this.orders) { no++; if (this.orders[k].d[4]) { un++; } }
      var html =
        '<span><b>' + nt + "</b> technicians</span>" +
        '<span><span class="desk-dot" style="background:' + TECH_COLORS[0] + '"></span>' + byState[0] + " available</span>" +
        '<span class="desk-sep"></span>' +
        "<span><b>" + no + "</b> open work orders</span>" +
        '<span class="desk-unassigned"><b>' + un + "</b> unassigned</span>";
      if (html !== this._summaryHtml) { el.innerHTML = this._summaryHtml = html; }  // the same numbers: no new nodes
    },
    _tileWatch: function () {
      var self = this;
      var badge = function () {
        var el = document.getElementById("desk-offline");
        if (el) { el.style.display = self.tilesLoaded ? "none" : ""; }
      };
      if (!this.tileLayer) { setTimeout(badge, 0); return; }
      this.tileLayer.on("tileload", function () { self.tilesLoaded++; badge(); });
      this.tileLayer.on("tileerror", function () { self.tileErrors++; if (!self.tilesLoaded) { badge(); } });
      setTimeout(badge, 4000);
    },
    tileStatus: function () { return { loaded: this.tilesLoaded, errors: this.tileErrors }; },

    _connectBridge: function () {
      var self = this;
      if (typeof QWebChannel === "undefined" || typeof qt === "undefined" || !qt.webChannelTransport) { return; }
      new QWebChannel(qt.webChannelTransport, function (channel) {
        self.bridge = channel.objects.bridge;
        if (self.bridge && self.bridge.pageReady) { self.bridge.pageReady(); }
      });
    },
    _clicked: function (kind, id) {
      if (!this.bridge) { return; }
      if (kind === "t") { this.bridge.technicianClicked(id); } else { this.bridge.workOrderClicked(id); }
    },
    _afterDraw: function (what) {
      var self = this;
      requestAnimationFrame(function () {
        if (self.bridge && self.bridge.drawn) { self.bridge.drawn(what, self.lastDrawMs || 0); }
      });
    }
  };

  window.DeskMap = DeskMap;
})();
