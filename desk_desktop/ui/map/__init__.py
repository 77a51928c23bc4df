"""The dispatch map: technicians and open work orders on a Leaflet map (folium + QtWebEngine)."""
