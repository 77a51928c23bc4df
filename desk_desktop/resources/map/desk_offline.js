/*
 * The offline basemap: a regional .pmtiles file (DESK_OFFLINE_MAP) drawn by protomaps-leaflet,
 * served by the app at desk-offline://map/basemap.pmtiles (ui/map/profile.py).
 *
 * It is added by itself when the street-map tiles cannot be reached (the first tile error
 * before any tile loaded), or at once when there is no tile layer. It sits in the tile pane,
 * over the built-in country outlines. DeskOffline.status() reports what it drew (for the tests
 * and the self-check): tiles drawn, tile errors, whether it is on the map.
 */
(function () {
  "use strict";

  window.DeskOffline = {
    layer: null,
    map: null,
    tilesDrawn: 0,
    tileErrors: 0,

    attach: function (map, tileLayer, url, attribution) {
      var self = this;
      this.map = map;
      this.layer = protomapsL.leafletLayer({
        url: url, flavor: "light", lang: "en", attribution: attribution, maxDataZoom: 15
      });
      this.layer.on("tileload", function () { self.tilesDrawn++; });
      this.layer.on("tileerror", function () { self.tileErrors++; });
      if (!tileLayer) { this.show(); return; }
      var streetTilesLoaded = 0;
      tileLayer.on("tileload", function () { streetTilesLoaded++; });
      tileLayer.on("tileerror", function () { if (!streetTilesLoaded) { self.show(); } });
    },

    show: function () {
      if (!this.layer || this.map.hasLayer(this.layer)) { return; }
      this.layer.addTo(this.map);
      var badge = document.getElementById("desk-offline");
      if (badge) { badge.textContent = "Street map unavailable: showing the offline map"; }
    },

    status: function () {
      return { shown: !!(this.layer && this.map.hasLayer(this.layer)), drawn: this.tilesDrawn, errors: this.tileErrors };
    }
  };
})();
