/* fleetarc console map: latest positions from /api/v1/devices, a device's day from
 * /api/v1/route. Plain JavaScript over Leaflet; state for tests is kept on <body data-*>. */
(function () {
  'use strict';
  var body = document.body, errors = [];
  function noteError(msg) {
    errors.push(String(msg));
    body.setAttribute('data-errors', String(errors.length));
    document.getElementById('errors').textContent = errors.join('\n');
  }
  window.addEventListener('error', function (e) { noteError(e.message); });
  window.addEventListener('unhandledrejection', function (e) { noteError(e.reason); });
  body.setAttribute('data-errors', '0');

  var colours = { moving: '#1a9850', stopped: '#2c7bb6', offline: '#7f7f7f',
    never_online: '#c2a5cf', expired: '#fdae61', blocked: '#d7191c', unknown: '#444444' };
  var labels = { moving: 'moving', stopped: 'stopped', offline: 'offline',
    never_online: 'never online', expired: 'expired', blocked: 'blocked', unknown: 'no track' };

  function text(s) { return s === null || s === undefined ? '' : String(s); }
  function esc(s) {
    return text(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function get(url) {
    return fetch(url, { credentials: 'same-origin' }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw new Error(url + ': ' + r.status + ' ' + (j.error || ''));
        return j;
      });
    });
  }
  function info(html) { document.getElementById('info').innerHTML = html; }
  function when(t) { return t ? new Date(t * 1000).toISOString().replace('.000', '') : '-'; }

  var params = new URLSearchParams(location.search);
  var tzInput = document.getElementById('tz'), dateInput = document.getElementById('date');
  var select = document.getElementById('imei');
  var browserTz = 'UTC';
  try { browserTz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch (e) { /* old */ }
  tzInput.value = params.get('tz') || browserTz;
  dateInput.value = params.get('date') || new Date().toISOString().slice(0, 10);

  var legend = document.getElementById('legend');
  Object.keys(colours).forEach(function (k) {
    legend.insertAdjacentHTML('beforeend', '<span class="dot ' + k + '"></span>' + labels[k]);
  });

  var map = L.map('map', { worldCopyJump: true }).setView([20, 0], 2);
  var markers = L.featureGroup().addTo(map), route = L.featureGroup().addTo(map);
  body.setAttribute('data-markers', '0');

  function drawDevices(fc) {
    markers.clearLayers();
    var n = 0;
    fc.features.forEach(function (f) {
      var p = f.properties, c = f.geometry.coordinates;
      var m = L.circleMarker([c[1], c[0]], {
        radius: 7, weight: 2, color: '#fff', fillColor: colours[p.status] || '#444',
        fillOpacity: 0.95, className: 'fa-marker fa-st-' + p.status
      });
      var title = esc(p.name || p.imei) + (p.plate ? ' (' + esc(p.plate) + ')' : '');
      m.bindTooltip(title);
      m.bindPopup('<b>' + title + '</b><br>IMEI ' + esc(p.imei) + '<br>' +
        esc(labels[p.status] || p.status) + ', ' + esc(p.speed) + ' km/h<br>fix ' +
        when(p.gpstime) + '<br>heartbeat ' + when(p.hearttime) + '<br>account ' + esc(p.account));
      m.on('click', function () { select.value = p.imei; });
      m.addTo(markers);
      var o = document.createElement('option');
      o.value = p.imei;
      o.textContent = (p.name || p.imei) + (p.plate ? ' · ' + p.plate : '');
      select.appendChild(o);
      n++;
    });
    body.setAttribute('data-markers', String(n));
    if (n) map.fitBounds(markers.getBounds(), { padding: [30, 30], maxZoom: 14 });
  }

  function drawRoute(imei, date, tz) {
    return get('/api/v1/route?imei=' + encodeURIComponent(imei) + '&date=' +
               encodeURIComponent(date) + '&tz=' + encodeURIComponent(tz)).then(function (fc) {
      route.clearLayers();
      var vertices = 0, trips = 0, stops = 0, km = 0, rows = [];
      fc.features.forEach(function (f) {
        var p = f.properties, g = f.geometry;
        if (p.kind === 'route') {
          var ll = g.coordinates.map(function (c) { return [c[1], c[0]]; });
          vertices = ll.length;
          km = p.km;
          if (ll.length) L.polyline(ll, { color: '#263238', weight: 3, opacity: 0.6,
            smoothFactor: 0, className: 'fa-route' }).addTo(route);
        } else if (p.kind === 'trip') {
          trips++;
          L.polyline(g.coordinates.map(function (c) { return [c[1], c[0]]; }),
            { color: '#e65100', weight: 4, className: 'fa-trip' })
            .bindTooltip('trip ' + esc(p.start) + '–' + esc(p.end) + ', ' + esc(p.km) + ' km')
            .addTo(route);
          rows.push('<tr><td>trip</td><td>' + esc(p.start) + '</td><td>' + esc(p.end) +
                    '</td><td>' + esc(p.km) + ' km</td></tr>');
        } else if (p.kind === 'stop') {
          stops++;
          L.circleMarker([g.coordinates[1], g.coordinates[0]], { radius: 5, color: '#6a1b9a',
            className: 'fa-stop' }).bindTooltip('stop ' + esc(p.start) + '–' + esc(p.end))
            .addTo(route);
          rows.push('<tr><td>stop</td><td>' + esc(p.start) + '</td><td>' + esc(p.end) +
                    '</td><td>' + esc(p.minutes) + ' min</td></tr>');
        }
      });
      rows.sort(function (a, b) { return a.split('<td>')[2] < b.split('<td>')[2] ? -1 : 1; });
      body.setAttribute('data-route-vertices', String(vertices));
      body.setAttribute('data-route-trips', String(trips));
      body.setAttribute('data-route-stops', String(stops));
      info('<b>' + esc(imei) + '</b> ' + esc(date) + ' (' + esc(tz) + '): ' + vertices +
           ' points, ' + esc(km) + ' km, ' + trips + ' trips, ' + stops + ' stops' +
           (fc.truncated ? ' <b>(truncated)</b>' : '') +
           (rows.length ? '<table>' + rows.join('') + '</table>' : ''));
      if (vertices) map.fitBounds(route.getBounds(), { padding: [30, 30] });
    });
  }

  get('/api/v1/config').then(function (cfg) {
    if (cfg.tiles) {
      /* Unreachable tiles (an offline machine) leave a plain background: markers and
       * tracks are vectors and draw regardless. */
      L.tileLayer(cfg.tiles, { attribution: cfg.attribution, maxZoom: 19 }).addTo(map);
    }
    return get('/api/v1/devices');
  }).then(function (fc) {
    drawDevices(fc);
    var imei = params.get('imei'), date = params.get('date');
    if (imei) select.value = imei;
    if (imei && date) return drawRoute(imei, date, tzInput.value);
  }).then(function () {
    body.setAttribute('data-ready', '1');
  }).catch(function (e) {
    info('<span class="bad">' + esc(e.message || e) + '</span>');
    body.setAttribute('data-ready', 'error');
  });
})();
