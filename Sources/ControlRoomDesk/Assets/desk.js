'use strict';
const desk = { rows: new Map(), alerts: new Map(), markers: new Map(), tracks: new Map(), trackChunks: new Map(),
               responderMarkers: new Map(),
               vehicles: new Map(), vehicleTimes: new Map(), fadedVehicles: new Set(), vehicleNames: new Map(), vehicleCursor: 0, vehicleLoad: null, fleetLoadedMs: null,
               csrf: '', role: '', escalateAfterMs: 60000, offsetMs: 0, selected: null, heard: new Set(), map: null,
               soundOn: false, pushes: 0, sirens: 0, lastSirenMs: 0 };
window.desk = desk;
const $ = (id) => document.getElementById(id);
const order = { emergency: 0, help: 1, tamper: 2 };
const stateText = { open: 'OPEN', acknowledged: 'help on the way', cleared: 'cleared, waiting for the box' };

function serverNow() { return Date.now() + desk.offsetMs; }
function ago(ms) {
  if (ms == null) return '—';
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 90 ? s + ' s' : s < 5400 ? Math.round(s / 60) + ' min' : Math.round(s / 3600) + ' h';
}
function label(item) {
  const d = item.device;
  return d.name || item.alert.device;
}
async function post(path, body) {
  const answer = await fetch(path, { method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': desk.csrf }, body: JSON.stringify(body || {}) });
  const text = await answer.text();
  let value = null;
  try { value = JSON.parse(text); } catch (e) {}
  if (!answer.ok) {
    const message = value && value.error ? (value.error.message || value.error) : text;
    throw new Error(answer.status + ' ' + message);
  }
  return value;
}
function status(text) { $('status').textContent = text; }

function makeRow(key) {
  const row = document.createElement('tr');
  row.dataset.alert = key.split('/')[1];
  row.dataset.key = key;
  for (const name of ['kind', 'name', 'position', 'fixage', 'since', 'state', 'responders', 'actions']) {
    const cell = document.createElement('td');
    cell.className = name;
    row.appendChild(cell);
  }
  const accept = document.createElement('button');
  accept.textContent = 'Accept';
  accept.className = 'accept';
  accept.addEventListener('click', (event) => { event.stopPropagation(); act(key, 'accept', accept); });
  const clear = document.createElement('button');
  clear.textContent = 'Clear';
  clear.className = 'clear';
  clear.addEventListener('click', (event) => { event.stopPropagation(); askClear(key); });
  row.cells[7].append(accept, ' ', clear);
  row.addEventListener('click', () => select(key));
  return row;
}
function setText(cell, text) { if (cell.textContent !== text) cell.textContent = text; }
// A string as a DOM node of text, for Leaflet (a string given to Leaflet is parsed as HTML).
function textNode(text) { const span = document.createElement('span'); span.textContent = text; return span; }
function escapeHTML(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function render(key) {
  const item = desk.alerts.get(key);
  let row = desk.rows.get(key);
  if (!row) { row = makeRow(key); desk.rows.set(key, row); place(row, item); }
  const a = item.alert;
  row.classList.remove('emergency', 'help', 'tamper');
  row.classList.add(a.kind);
  setText(row.cells[0], a.kind.toUpperCase());
  const d = item.device;
  setText(row.cells[1], label(item) + (d.registration ? ' · ' + d.registration : '') + (d.route ? ' · ' + d.route : '')
           + (d.phone ? ' · ☎ ' + d.phone : '') + (d.name ? '' : ''));
  const p = item.current;
  setText(row.cells[2], p ? p.latitude.toFixed(5) + ', ' + p.longitude.toFixed(5) : 'no fix');
  const refusedStep = boxSteps.find((step) => receiptsOf(item)[step]?.action === 'box-refused');
  setText(row.cells[5], stateOf(item) + (refusedStep || a.state !== 'acknowledged' ? '' : boxMark(item)));
  row.cells[5].title = receiptText(item);
  row.cells[5].className = 'state ' + a.state + (refusedStep ? ' box-refused' : '');
  setText(row.cells[6], item.responders.map((r) => (r.name || r.device) + ' ' + r.stage
           + (r.distanceMeters != null ? ' ' + (r.distanceMeters / 1000).toFixed(1) + ' km' : '')).join('; ') || '—');
  const accept = row.querySelector('button.accept');
  accept.disabled = a.state !== 'open';
  row.querySelector('button.clear').disabled = a.state === 'cleared';
  tick(key);
  drawOnMap(key);
  if (desk.selected === key) { showDetail(); updateActions(); }
}
// The box's own answer to each command (audit lines box-confirmed / box-refused, the latest per step).
const boxSteps = ['accept', 'dispatch', 'arrive', 'clear'];
function receiptsOf(item) {
  const latest = {};
  for (const e of item.audit) {
    if (e.action === 'box-confirmed' || e.action === 'box-refused') latest[e.reason.split(' ')[0]] = e;
  }
  return latest;
}
function refusalOf(entry) { return entry.reason.replace(/^\S+ refused: /, '').replace(/ \(nonce [^)]*\)$/, ''); }
function receiptText(item) {
  const latest = receiptsOf(item);
  return boxSteps.filter((step) => latest[step]).map((step) => latest[step].action === 'box-confirmed'
    ? step + ': box confirmed ✓' : step + ': box refused: ' + refusalOf(latest[step])).join('; ');
}
// ' ✓' when the box confirmed the step the state names.
function boxMark(item) {
  const latest = receiptsOf(item);
  const state = stateOf(item);
  const step = state === 'on scene' ? 'arrive' : state === 'dispatched' ? 'dispatch' : 'accept';
  return latest[step]?.action === 'box-confirmed' ? ' ✓' : '';
}
// Where the incident stands: open, accepted (help on the way), a responder dispatched, on scene, cleared.
// A step the box refused says so instead: help is not on the way as far as the box knows.
function stateOf(item) {
  const a = item.alert;
  const refused = boxSteps.find((step) => receiptsOf(item)[step]?.action === 'box-refused');
  if (refused && a.state !== 'open') return 'box refused ' + refused + ': ' + refusalOf(receiptsOf(item)[refused]);
  if (a.state !== 'acknowledged') return stateText[a.state] || a.state;
  const stages = item.responders.map((r) => r.stage);
  if (stages.includes('on-scene')) return 'on scene';
  if (stages.includes('dispatched')) return 'dispatched';
  if (stages.length && stages.every((s) => s === 'stood-down')) return 'stood down';
  return stateText.acknowledged;
}
function place(row, item) {
  const body = $('alerts');
  const rank = (i) => [order[i.alert.kind] ?? 3, i.alert.pressed];
  const mine = rank(item);
  for (const other of body.rows) {
    const theirs = desk.alerts.get(other.dataset.key);
    if (!theirs) continue;
    const r = rank(theirs);
    if (mine[0] < r[0] || (mine[0] === r[0] && mine[1] < r[1])) { body.insertBefore(row, other); return; }
  }
  body.appendChild(row);
}
function tick(key) {
  const item = desk.alerts.get(key);
  const row = desk.rows.get(key);
  if (!item || !row) return;
  const now = serverNow();
  const pressed = Date.parse(item.alert.pressed);
  const p = item.current;
  setText(row.cells[3], p ? ago(now - p.timeMs + p.fixAgeMs) : '—');
  setText(row.cells[4], ago(now - pressed));
  const escalated = item.alert.state === 'open' && now - pressed > desk.escalateAfterMs;
  row.classList.toggle('escalated', escalated);
}
function remove(key) {
  const row = desk.rows.get(key);
  if (row) row.remove();
  desk.rows.delete(key);
  if (desk.selected === key) { desk.selected = null; updateActions(); }
  desk.alerts.delete(key);
  desk.trackChunks.delete(key);
  for (const store of [desk.markers, desk.tracks]) {
    const layer = store.get(key);
    if (layer && desk.map) desk.map.removeLayer(layer);
    store.delete(key);
  }
}
// An alert's route trail from the pieces the server sent (`tracks`: the points of one block of sequence numbers
// each, keyed '/device/alert#N'), oldest first: a new position re-sends only the last piece.
function trailOf(key) {
  const chunks = desk.trackChunks.get(key);
  if (!chunks) return [];
  return [...chunks.keys()].sort((a, b) => a - b).flatMap((n) => chunks.get(n));
}
function apply(message) {
  desk.pushes += 1;
  desk.offsetMs = message.serverNowMs - Date.now();
  if (message.snapshot) {
    const keep = new Set(message.upsert.map((i) => i.alert.device + '/' + i.alert.id));
    for (const key of [...desk.alerts.keys()]) if (!keep.has(key)) remove(key);
    desk.trackChunks = new Map();
  }
  const trails = new Set();
  for (const chunk of message.tracks || []) {
    if (!desk.trackChunks.has(chunk.alert)) desk.trackChunks.set(chunk.alert, new Map());
    desk.trackChunks.get(chunk.alert).set(chunk.chunk, chunk.points);
    trails.add(chunk.alert);
  }
  for (const key of message.remove) {
    if (!key.startsWith('/')) continue;
    const hash = key.lastIndexOf('#'), alert = key.slice(1, hash);
    desk.trackChunks.get(alert)?.delete(Number(key.slice(hash + 1)));
    trails.add(alert);
  }
  let newest = null;
  for (const item of message.upsert) {
    const key = item.alert.device + '/' + item.alert.id;
    const fresh = !desk.alerts.has(key);
    item.track = trailOf(key);
    trails.delete(key);
    desk.alerts.set(key, item);
    render(key);
    if (fresh && item.alert.state === 'open') {
      alarm(key, item);
      if (!newest || (order[item.alert.kind] ?? 3) <= (order[newest.alert.kind] ?? 3)) newest = item;
    }
  }
  for (const key of message.remove) if (!key.startsWith('/')) remove(key);
  // A trail that changed while its row did not: redrawn alone.
  for (const key of trails) {
    const item = desk.alerts.get(key);
    if (!item) continue;
    item.track = trailOf(key);
    drawOnMap(key);
    if (desk.selected === key) showDetail();
  }
  // A new open alert (an emergency before a help call): the map goes to it.
  if (newest && newest.current && desk.map) {
    desk.map.setView([newest.current.latitude, newest.current.longitude], Math.max(desk.map.getZoom(), 15));
  }
  dropStaleResponders();
  // Nothing selected: the top row is (a new alert never takes the selection away from the operator's).
  if (!desk.selected && $('alerts').rows.length) select($('alerts').rows[0].dataset.key);
  refreshResponders();
  scheduleHealth();
  if (desk.fleetLayer) loadVehicles();
}

// The map: Leaflet from the control room; tiles from the control room's own tileset (--tiles) or a tile
// server (--tile-url) when configured, else a plain grid.
function setupMap(config) {
  const tileURL = config.tileURL;
  if (!window.L) { $('map').textContent = 'map unavailable: Leaflet is not installed on the control room'; return; }
  const local = config.tileMaxZoom != null;
  desk.map = L.map('map', { center: [22.5, 79], zoom: 5, worldCopyJump: true, minZoom: local ? config.tileMinZoom : 0 });
  if (local) {
    // Beyond the file's deepest level its tiles are enlarged, not asked for.
    L.tileLayer(tileURL, { minZoom: config.tileMinZoom, maxZoom: 19, minNativeZoom: config.tileMinZoom,
                           maxNativeZoom: config.tileMaxZoom, attribution: escapeHTML(config.tileAttribution || 'local tileset') })
      .addTo(desk.map);
  } else if (tileURL) {
    L.tileLayer(tileURL, { maxZoom: 19, attribution: 'tiles: ' + escapeHTML(new URL(tileURL.replace(/[{}]/g, ''), location.href).host) })
      .addTo(desk.map);
  } else {
    const Grid = L.GridLayer.extend({ createTile: function (coords) {
      const tile = document.createElement('canvas');
      const size = this.getTileSize();
      tile.width = size.x; tile.height = size.y;
      const g = tile.getContext('2d');
      g.strokeStyle = '#bbc'; g.strokeRect(0, 0, size.x, size.y);
      g.fillStyle = '#889'; g.font = '10px sans-serif';
      g.fillText(coords.z + '/' + coords.x + '/' + coords.y, 4, 12);
      return tile;
    } });
    new Grid({ attribution: 'no tiles configured: plain grid' }).addTo(desk.map);
  }
}
// The fleet: every vehicle's newest position as a small dot, all on one canvas in a pane under the alerts
// (thousands draw in milliseconds; SVG would make one element each). Loaded in pages at start, then only
// the vehicles that moved since the cursor, asked for after each push and every vehicleRefreshMs.
function setupFleet(refreshMs) {
  if (!desk.map) return;
  desk.map.createPane('fleet').style.zIndex = 350;
  desk.fleetRenderer = L.canvas({ pane: 'fleet', padding: 0.5 });
  desk.fleetLayer = L.layerGroup().addTo(desk.map);
  loadVehicles();
  setInterval(loadVehicles, Math.max(500, refreshMs || 10000));
}
function loadVehicles() {
  if (desk.vehicleLoad) return desk.vehicleLoad;
  desk.vehicleLoad = (async () => {
    try {
      for (let more = true, pages = 0; more && pages < 100; pages++) {
        const answer = await fetch('/v1/desk/vehicles?after=' + desk.vehicleCursor, { credentials: 'same-origin' });
        if (!answer.ok) return;
        const page = await answer.json();
        for (const [device, latitude, longitude, timeMs, name] of page.vehicles) placeVehicle(device, latitude, longitude, timeMs, name);
        desk.vehicleCursor = page.cursor;
        more = page.more;
      }
      if (desk.fleetLoadedMs == null) desk.fleetLoadedMs = performance.now();
      // A vehicle that stopped reporting gets no new row: its dot fades here.
      for (const device of desk.vehicleTimes.keys()) fadeVehicle(device);
    } catch (e) {
      // The next refresh asks again from the same cursor.
    } finally { desk.vehicleLoad = null; }
  })();
  return desk.vehicleLoad;
}
function placeVehicle(device, latitude, longitude, timeMs, name) {
  const at = [latitude, longitude];
  let dot = desk.vehicles.get(device);
  if (!dot) {
    dot = L.circleMarker(at, { renderer: desk.fleetRenderer, radius: 4, weight: 1, color: '#234', fillColor: '#58a',
                               opacity: 0.9, fillOpacity: 0.7 });
    // The tooltip is made when first shown: 10,000 of them up front would cost more than the dots.
    dot.on('mouseover', () => { if (!dot.getTooltip()) dot.bindTooltip(textNode(desk.vehicleNames.get(device) || device)).openTooltip(); });
    dot.addTo(desk.fleetLayer);
    desk.vehicles.set(device, dot);
  } else dot.setLatLng(at);
  desk.vehicleTimes.set(device, timeMs);
  if (name) desk.vehicleNames.set(device, name);
  fadeVehicle(device);
}
// Not heard from for 15 minutes: drawn faded, so a stale dot is not taken for where the vehicle is. Restyled only
// when that changes (a canvas redraw per dot would cost 10,000 of them on every refresh).
function fadeVehicle(device) {
  const stale = serverNow() - desk.vehicleTimes.get(device) > 15 * 60 * 1000;
  if (stale === desk.fadedVehicles.has(device)) return;
  if (stale) desk.fadedVehicles.add(device); else desk.fadedVehicles.delete(device);
  desk.vehicles.get(device).setStyle({ opacity: stale ? 0.35 : 0.9, fillOpacity: stale ? 0.2 : 0.7 });
}
desk.vehicleCount = () => desk.vehicles.size;
desk.vehicleAt = (device) => { const d = desk.vehicles.get(device); if (!d) return null; const at = d.getLatLng(); return [at.lat, at.lng]; };
function drawOnMap(key) {
  if (!desk.map) return;
  const item = desk.alerts.get(key);
  const p = item.current;
  if (!p) return;
  const colour = item.alert.kind === 'emergency' ? '#d00' : item.alert.kind === 'help' ? '#e0a000' : '#555';
  let marker = desk.markers.get(key);
  const position = [p.latitude, p.longitude];
  if (!marker) {
    marker = L.circleMarker(position, { radius: 9, color: colour, fillOpacity: 0.8,
                                        className: 'alert-marker marker-' + item.alert.id }).addTo(desk.map);
    marker.on('click', () => select(key));
    desk.markers.set(key, marker);
    if (desk.markers.size === 1) desk.map.setView(position, 15);
  } else {
    const was = marker.getLatLng();
    marker.setLatLng(position);
    // The selected vehicle is followed: the map keeps it in the middle as it moves.
    if (desk.selected === key && (was.lat !== position[0] || was.lng !== position[1])) desk.map.panTo(position);
  }
  marker.bindTooltip(textNode(label(item) + ' — ' + item.alert.kind));
  const points = item.track.map((t) => [t.latitude, t.longitude]);
  let track = desk.tracks.get(key);
  if (!track) { track = L.polyline(points, { color: colour, weight: 3 }).addTo(desk.map); desk.tracks.set(key, track); }
  else track.setLatLngs(points);
  for (const r of item.responders) {
    if (!r.position) continue;
    let m = desk.responderMarkers.get(r.device);
    const at = [r.position.latitude, r.position.longitude];
    if (!m) { m = L.circleMarker(at, { radius: 7, color: '#06c', className: 'responder-marker' }).addTo(desk.map);
              desk.responderMarkers.set(r.device, m); }
    else m.setLatLng(at);
    m.bindTooltip(textNode((r.name || r.device) + ' (' + r.stage + ')'));
  }
}
// A responder no longer on any shown alert (stood down and gone, or its alert closed) leaves the map.
function dropStaleResponders() {
  const shown = new Set();
  for (const item of desk.alerts.values()) for (const r of item.responders) if (r.position) shown.add(r.device);
  for (const [device, marker] of desk.responderMarkers) {
    if (!shown.has(device)) { if (desk.map) desk.map.removeLayer(marker); desk.responderMarkers.delete(device); }
  }
}
desk.mapCentre = () => { const c = desk.map.getCenter(); return [Number(c.lat.toFixed(4)), Number(c.lng.toFixed(4))]; };
desk.trailLength = (alertID) => {
  for (const [key, track] of desk.tracks) if (key.endsWith('/' + alertID)) return track.getLatLngs().length;
  return 0;
};
desk.markerPosition = (alertID) => {
  for (const [key, marker] of desk.markers) if (key.endsWith('/' + alertID)) {
    const at = marker.getLatLng(); return [at.lat, at.lng];
  }
  return null;
};

// The alarm: a sound for every new open alert (a siren for an emergency), the title flashing while any
// emergency is unaccepted, and a desktop notification.
function alarm(key, item) {
  if (desk.heard.has(key)) return;
  desk.heard.add(key);
  if (desk.soundOn) {
    if (item.alert.kind === 'emergency') { desk.lastSirenMs = Date.now(); desk.sirens += 1; }
    const audio = new Audio('/static/alarm/' + (item.alert.kind === 'emergency' ? 'emergency' : 'help'));
    audio.play().catch(() => {});
  }
  if (window.Notification && Notification.permission === 'granted') {
    new Notification((item.alert.kind === 'emergency' ? 'EMERGENCY: ' : 'Help call: ') + label(item),
                     { body: item.current ? item.current.latitude.toFixed(5) + ', ' + item.current.longitude.toFixed(5) : 'no fix', tag: key });
  }
}
// The operator's sound choice survives a reload (localStorage); the button turns it off again.
const soundKey = 'panicbridge.desk.sound';
function showSound() { $('sound').textContent = desk.soundOn ? 'Sound on (click to mute)' : 'Enable sound and notifications'; }
try { desk.soundOn = localStorage.getItem(soundKey) === 'on'; } catch (e) {}
showSound();
$('sound').addEventListener('click', async () => {
  desk.soundOn = !desk.soundOn;
  try { localStorage.setItem(soundKey, desk.soundOn ? 'on' : 'off'); } catch (e) {}
  showSound();
  if (!desk.soundOn) return;
  try { await new Audio('/static/alarm/help').play(); } catch (e) {}
  if (window.Notification && Notification.permission === 'default') await Notification.requestPermission();
});
// The siren repeats (every 5 s) while any emergency is unaccepted, until someone accepts it.
function siren(unaccepted) {
  if (!desk.soundOn || !unaccepted || Date.now() - desk.lastSirenMs < 5000) return;
  desk.lastSirenMs = Date.now();
  desk.sirens += 1;
  new Audio('/static/alarm/emergency').play().catch(() => {});
}
let flash = false;
setInterval(() => {
  let unaccepted = 0, escalated = 0;
  for (const [key, item] of desk.alerts) {
    tick(key);
    if (item.alert.state === 'open') {
      if (item.alert.kind === 'emergency') unaccepted += 1;
      if (serverNow() - Date.parse(item.alert.pressed) > desk.escalateAfterMs) escalated += 1;
    }
  }
  flash = unaccepted > 0 && !flash;
  siren(unaccepted);
  document.title = flash ? '🚨 ' + unaccepted + ' EMERGENCY' : 'PanicBridge desk';
  const banner = $('escalation');
  // Shown and hidden without moving anything: a layout shift under the pointer would lose a click.
  banner.style.visibility = escalated ? 'visible' : 'hidden';
  banner.textContent = escalated ? escalated + ' alert(s) not accepted for over ' + Math.round(desk.escalateAfterMs / 1000)
    + ' s' + (desk.role !== 'operator' ? ' — supervisor: take action'
              : desk.notifies ? ' — supervisor notified' : ' — call the supervisor') : '';
}, 1000);

async function act(key, action, button) {
  const [device, alert] = key.split('/');
  button.disabled = true;
  try {
    const view = await post('/v1/alerts/' + device + '/' + alert + '/' + action, {});
    const item = desk.alerts.get(key);
    if (item) { item.alert.state = view.state; render(key); }
    status(action + 'ed ' + label(item || { device: {}, alert: { device } }));
  } catch (error) { status(action + ' failed: ' + error.message); button.disabled = false; }
}
function askClear(key) {
  const item = desk.alerts.get(key);
  $('clearWhat').textContent = item ? label(item) : key;
  $('clearReason').value = ''; $('clearText').value = ''; $('clearError').textContent = '';
  $('clearDialog').dataset.key = key;
  $('clearDialog').showModal();
}
$('clearConfirm').addEventListener('click', async (event) => {
  event.preventDefault();
  const key = $('clearDialog').dataset.key;
  const choice = $('clearReason').value, text = $('clearText').value.trim();
  if (!choice) { $('clearError').textContent = 'choose a reason'; return; }
  const reason = text ? choice + ': ' + text : choice;
  const [device, alert] = key.split('/');
  try {
    const view = await post('/v1/alerts/' + device + '/' + alert + '/clear', { reason });
    const item = desk.alerts.get(key);
    if (item) { item.alert.state = view.state; render(key); }
    $('clearDialog').close();
  } catch (error) { $('clearError').textContent = error.message; }
});
$('clearCancel').addEventListener('click', (event) => { event.preventDefault(); $('clearDialog').close(); });
// The selected alert's actions (the bar above the rows) and their keyboard shortcuts.
function selectedItem() { return desk.selected ? desk.alerts.get(desk.selected) || null : null; }
let responders = [];
// At most one fetch of the responder list per 3 s however often pushes come (the last push is never lost:
// one more fetch follows the window).
let respondersFetched = 0;
let respondersTimer = null;
function refreshResponders() {
  if (respondersTimer) return;
  respondersTimer = setTimeout(async () => {
    respondersTimer = null;
    respondersFetched = Date.now();
    try { responders = await (await fetch('/v1/desk/responders')).json(); } catch (e) { return; }
    updateActions();
  }, Math.max(0, respondersFetched + 3000 - Date.now()));
}
function fillResponders(item) {
  const select = $('actResponder');
  const options = [['', 'responder…']].concat(responders.map((r) => {
    const distance = r.position && item && item.current ? haversine(r.position, item.current) : null;
    const assigned = item ? item.responders.find((x) => x.device === r.device) : null;
    return [r.device, (r.name || r.device) + (distance != null ? ' (' + (distance / 1000).toFixed(1) + ' km)' : '')
            + (assigned ? ' — ' + assigned.stage : ''), distance ?? Infinity];
  }).sort((a, b) => a[2] - b[2] || a[1].localeCompare(b[1])));
  const text = options.map((o) => o[0] + '=' + o[1]).join('|');
  if (select.dataset.options !== text) {
    const chosen = select.value;
    select.dataset.options = text;
    select.replaceChildren(...options.map(([value, name]) => { const o = document.createElement('option');
      o.value = value; o.textContent = name; return o; }));
    if (options.some((o) => o[0] === chosen)) select.value = chosen;
  }
  // No choice yet: the responder already working this alert, else none (the operator picks).
  if (!select.value && item) {
    const working = item.responders.find((r) => r.stage !== 'stood-down');
    if (working && options.some((o) => o[0] === working.device)) select.value = working.device;
  }
}
function updateActions() {
  const item = selectedItem();
  setText($('actionWhat'), item ? item.alert.kind.toUpperCase() + ' — ' + label(item) + ' — ' + stateOf(item)
                                : 'Select an alert');
  fillResponders(item);
  const state = item ? item.alert.state : 'cleared';
  const responder = $('actResponder').value;
  const assigned = item && responder ? item.responders.find((r) => r.device === responder) : null;
  const stage = assigned ? assigned.stage : null;
  const live = state !== 'cleared' && !!responder;
  $('actAccept').disabled = state !== 'open';
  $('actClear').disabled = state === 'cleared';
  $('actDispatch').disabled = !live || stage !== null;
  $('actOnScene').disabled = !live || stage === 'on-scene' || stage === 'stood-down';
  $('actStandDown').disabled = !live || stage === null || stage === 'stood-down';
}
async function moveResponder(stage) {
  const item = selectedItem(), responder = $('actResponder').value;
  if (!item || !responder) return;
  try {
    await post('/v1/alerts/' + item.alert.device + '/' + item.alert.id + '/dispatch', { responder, stage });
    status(responder + ' ' + stage + ' for ' + label(item));
  } catch (error) { status(stage + ' failed: ' + error.message); }
}
$('actResponder').addEventListener('change', () => { updateActions(); $('actResponder').blur(); });
$('actAccept').addEventListener('click', () => { if (desk.selected) act(desk.selected, 'accept', $('actAccept')); });
$('actDispatch').addEventListener('click', () => moveResponder('dispatched'));
$('actOnScene').addEventListener('click', () => moveResponder('on-scene'));
$('actStandDown').addEventListener('click', () => moveResponder('stood-down'));
$('actClear').addEventListener('click', () => { if (desk.selected) askClear(desk.selected); });
// A (accept), D (dispatch), O (on scene), S (stood down), C (clear) on the selected alert; never while
// typing in a field, choosing in a list, or with a dialog open.
const shortcuts = { a: 'actAccept', d: 'actDispatch', o: 'actOnScene', s: 'actStandDown', c: 'actClear' };
document.addEventListener('keydown', (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  const target = event.target;
  if (target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))) return;
  if (document.querySelector('dialog[open]')) return;
  const id = Object.hasOwn(shortcuts, event.key.toLowerCase()) ? shortcuts[event.key.toLowerCase()] : null;
  if (!id || $(id).disabled) return;
  event.preventDefault();
  $(id).click();
});
function haversine(a, b) {
  const r = Math.PI / 180, dLat = (b.latitude - a.latitude) * r, dLon = (b.longitude - a.longitude) * r;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.latitude * r) * Math.cos(b.latitude * r) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371000 * Math.asin(Math.min(1, Math.sqrt(h)));
}
function select(key) {
  if (desk.selected && desk.rows.get(desk.selected)) desk.rows.get(desk.selected).classList.remove('selected');
  desk.selected = key;
  const row = desk.rows.get(key);
  if (row) row.classList.add('selected');
  const item = desk.alerts.get(key);
  if (item && item.current && desk.map) desk.map.panTo([item.current.latitude, item.current.longitude]);
  showDetail();
  updateActions();
}
function showDetail() {
  const item = desk.alerts.get(desk.selected);
  if (!item) return;
  const a = item.alert, d = item.device;
  setText($('detail'), a.kind + ' from ' + label(item) + ' (' + a.device + ')' + (d.registration ? ', ' + d.registration : '')
    + (d.route ? ', ' + d.route : '') + (d.phone ? ', phone ' + d.phone : '') + ', pressed ' + a.pressed
    + ', ' + item.track.length + ' positions since the press');
  setText($('receipts'), receiptText(item) ? 'the box: ' + receiptText(item) : '');
  const evidence = $('evidence');
  evidence.hidden = desk.role === 'operator';
  evidence.href = '/v1/evidence/' + encodeURIComponent(a.device) + '/' + encodeURIComponent(a.id);
  const list = $('audit');
  const lines = item.audit.map((e) => e.time + ' ' + e.user + ' (' + e.role + ') ' + e.action + (e.reason ? ': ' + e.reason : ''));
  if (list.dataset.lines === lines.join('\n')) return;
  list.dataset.lines = lines.join('\n');
  list.replaceChildren(...lines.map((text) => { const li = document.createElement('li'); li.textContent = text; return li; }));
}
$('noteForm').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!desk.selected) return;
  const [device, alert] = desk.selected.split('/');
  try { await post('/v1/alerts/' + device + '/' + alert + '/note', { text: $('noteText').value }); $('noteText').value = ''; }
  catch (error) { status('note failed: ' + error.message); }
});
$('caseForm').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!desk.selected) return;
  const [device, alert] = desk.selected.split('/');
  try { await post('/v1/alerts/' + device + '/' + alert + '/case', { fir: $('caseFir').value, gd: $('caseGd').value }); }
  catch (error) { status('FIR / GD failed: ' + error.message); }
});
$('historyForm').addEventListener('submit', async (event) => {
  event.preventDefault();
  const query = new URLSearchParams({ device: $('historyDevice').value, kind: $('historyKind').value });
  const items = await (await fetch('/v1/desk/history?' + query)).json();
  $('history').replaceChildren(...items.map((item) => {
    const row = document.createElement('tr');
    const last = item.audit.filter((e) => e.action === 'clear').pop();
    for (const text of [item.alert.kind, label(item), item.alert.pressed,
                        last ? last.user + ': ' + last.reason : 'cleared by the box']) {
      const cell = document.createElement('td'); cell.textContent = text; row.appendChild(cell);
    }
    if (desk.role !== 'operator') {
      const cell = document.createElement('td'), link = document.createElement('a');
      link.href = '/v1/evidence/' + encodeURIComponent(item.alert.device) + '/' + encodeURIComponent(item.alert.id);
      link.textContent = 'evidence'; cell.appendChild(link); row.appendChild(cell);
    }
    return row;
  }));
});
// A box's faults from its last health report: the uplink's and the store's (commands-refused:NAME,
// backend-failing:NAME, outbox-lost, disk-full…), faulty inputs, records the outbox dropped.
function faults(report) {
  if (!report.faults) return '—';
  const all = report.faults.concat((report.inputFaults || []).map((i) => 'input ' + i + ' faulty'));
  if (report.droppedRecords) all.push(report.droppedRecords + ' records dropped');
  return all.join(', ') || 'none';
}
function configText(c, report) {
  const running = report.configVersion != null ? 'v' + report.configVersion : 'local';
  if (!c || c.pushed == null || (c.state === 'healthy' && c.running === c.pushed)) return running;
  return running + ' (v' + c.pushed + ' ' + c.state + (c.rollout != null ? ', rollout ' + c.rollout : '') + ')';
}
let healthTimer = null;
// The device table shows one page of the fleet (the server's paging: ?after=ID&limit=N, X-Next-After).
let healthAfter = '';
let healthNext = null;
function scheduleHealth() {
  if (healthTimer) return;
  healthTimer = setTimeout(async () => {
    healthTimer = null;
    let items = [];
    try {
      const answer = await fetch('/v1/desk/health?limit=100' + (healthAfter ? '&after=' + encodeURIComponent(healthAfter) : ''));
      healthNext = answer.headers.get('X-Next-After');
      items = await answer.json();
    } catch (e) { return; }
    $('healthMore').hidden = !healthNext;
    $('healthFirst').hidden = !healthAfter;
    // Each box's configuration: pushed, acknowledged, running, and its state in the newest rollout.
    const configs = {};
    const page = 'limit=100' + (healthAfter ? '&after=' + encodeURIComponent(healthAfter) : '');
    try { for (const c of await (await fetch('/v1/config/status?' + page)).json()) configs[c.device] = c; } catch (e) {}
    const now = serverNow();
    $('health').replaceChildren(...items.map((h) => {
      const row = document.createElement('tr');
      const report = h.health || {};
      for (const text of [h.metadata.name || h.device, h.lastSeenMs ? ago(now - h.lastSeenMs) + ' ago' : 'never',
                          report.queueDepth ?? '—', report.oldestUndeliveredAgeMs != null ? ago(report.oldestUndeliveredAgeMs) : '—',
                          report.fixAgeMs != null ? ago(report.fixAgeMs) : '—', h.power || '—', h.tamper || '—',
                          faults(report), h.gaps.join(',') || 'none', configText(configs[h.device], report)]) {
        const cell = document.createElement('td'); cell.textContent = String(text); row.appendChild(cell);
      }
      return row;
    }));
  }, 1500);
}

// The push channel, with polling only while it is down.
let pollTimer = null;
function startPolling() {
  if (pollTimer) return;
  status('push channel down: polling');
  pollTimer = setInterval(async () => {
    try {
      const answer = await fetch('/v1/desk/alerts');
      if (answer.status === 401) { location.href = '/login'; return; }
      apply(await answer.json());
    } catch (e) {}
  }, 2000);
}
function connect() {
  const events = new EventSource('/v1/desk/events');
  events.addEventListener('alerts', (event) => {
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
    status('live');
    apply(JSON.parse(event.data));
  });
  // More desk tabs of this login than the server streams to: this one stops the channel and polls.
  events.addEventListener('evicted', () => {
    events.close();
    startPolling();
    status('push channel taken by a newer tab of this login: polling');
  });
  events.onerror = () => { setTimeout(() => { if (events.readyState !== 1) startPolling(); }, 3000); };
}
$('healthMore').addEventListener('click', () => { if (healthNext) { healthAfter = healthNext; scheduleHealth(); } });
$('healthFirst').addEventListener('click', () => { healthAfter = ''; scheduleHealth(); });
$('logout').addEventListener('click', async () => { try { await post('/v1/session/logout', {}); } finally { location.href = '/login'; } });

(async () => {
  const answer = await fetch('/v1/desk/config');
  if (answer.status === 401) { location.href = '/login'; return; }
  const config = await answer.json();
  const session = await (await fetch('/v1/session')).json();
  desk.csrf = session.csrf;
  desk.role = config.role;
  desk.escalateAfterMs = config.escalateAfterMs;
  desk.notifies = config.notifies;
  $('who').textContent = config.user + ' (' + config.role + ')';
  setupMap(config);
  setupFleet(config.vehicleRefreshMs);
  connect();
  scheduleHealth();
  $('rolloutForm').hidden = desk.role !== 'admin';
  if (desk.role === 'admin') {
    // The packages the console stored (`controlroom update push`): the update rollout picks one by name.
    try {
      const packages = await (await fetch('/v1/update-packages')).json();
      $('rolloutPackage').replaceChildren(...packages.map((p) => {
        const option = document.createElement('option');
        option.value = p.sha256; option.textContent = p.name + ' (' + p.version + ', ' + p.architecture + ')';
        return option;
      }));
    } catch (e) {}
  }
})();
$('rolloutKind').addEventListener('change', () => {
  const update = $('rolloutKind').value === 'update';
  $('rolloutSettings').hidden = update; $('rolloutUpdate').hidden = !update;
});
$('rolloutForm').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const common = { group: $('rolloutGroup').value, stages: $('rolloutStages').value,
      maxFailed: $('rolloutMaxFailed').value, wait: $('rolloutWait').value };
    const started = $('rolloutKind').value === 'update'
      ? await post('/v1/update-rollouts', Object.assign(common, { package: $('rolloutPackage').value, floor: $('rolloutFloor').value }))
      : await post('/v1/rollouts', Object.assign(common, { settings: $('rolloutSettings').value }));
    status('rollout ' + started.rollout.id + ' started: ' + started.devices.length + ' device(s)');
    scheduleHealth();
  } catch (error) { status('rollout refused: ' + error.message); }
});
