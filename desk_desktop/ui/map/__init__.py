"""The dispatch map: technicians and open work orders on a Leaflet map (folium + QtWebEngine).

``page.MapPage`` composes ``canvas.MapCanvas`` (the web page and keeping it current),
``unassigned.UnassignedList`` and ``candidates.CandidatesPanel``. ``bridge`` is what the
web page calls back, ``builder`` writes the page, ``payload`` the data it draws and
``cells`` how the side panel writes its rows.
"""
