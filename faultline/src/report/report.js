// faultline report: the timeline. Decodes the ops (see report/encode.rs for the format) into
// typed arrays and draws only the visible window of time and lanes on a canvas.
(function () {
  'use strict';
  var LANE_PX = 16, AXIS_PX = 26, LABEL_PX = 64, HEIGHT_MAX_PX = 560;
  var SUMMARY_OPS = 25000; // above this many ops in view, lanes are summarised per pixel
  var root = document.getElementById('fl-timeline');
  var metaEl = document.getElementById('fl-meta');
  if (!root || !metaEl) return;
  var meta = JSON.parse(metaEl.textContent);
  var n = meta.n, strings = meta.strings, fcodes = meta.fcodes;
  var tDecode = performance.now();

  // --- decode -------------------------------------------------------------------------
  var bin = atob(document.getElementById('fl-ops').textContent.trim());
  var bytes = new Uint8Array(bin.length);
  for (var b = 0; b < bin.length; b++) bytes[b] = bin.charCodeAt(b);
  bin = null;
  var pos = 0;
  function uv() {
    var v = 0, mul = 1, x;
    do { x = bytes[pos++]; v += (x & 127) * mul; mul *= 128; } while (x & 128);
    return v;
  }
  function zz() { var v = uv(); return (v % 2) ? -(v + 1) / 2 : v / 2; }
  function skipValue() {
    var tag = uv();
    if (tag === 2 || tag === 3) uv();
    else if (tag === 4) { var k = uv(); for (var j = 0; j < k; j++) uv(); }
    else if (tag === 7) { uv(); uv(); }
  }
  var call = new Float64Array(n), ret = new Float64Array(n), proc = new Float64Array(n);
  var code = new Uint8Array(n), key = new Int32Array(n), off = new Uint32Array(n);
  var err = new Int32Array(n);
  // nodes: index into meta.nodes of the node that answered (srv) and the one first sent to
  // (sent), -1 when not recorded
  var srv = new Int16Array(n), sent = new Int16Array(n);
  var t = 0, sorted = true, maxDur = 0, open = [];
  for (var i = 0; i < n; i++) {
    var prev = t;
    t += zz();
    if (t < prev) sorted = false;
    call[i] = t;
    var d = uv();
    ret[i] = d > 0 ? t + d - 1 : NaN;
    if (d > 0) { if (d - 1 > maxDur) maxDur = d - 1; } else open.push(i);
    proc[i] = uv();
    var c = bytes[pos++];
    code[i] = c;
    err[i] = (c & 64) ? uv() : -1;
    if (c & 128) {
      srv[i] = uv() - 1;
      var s2 = uv();
      sent[i] = s2 === 0 ? srv[i] : s2 - 2;
    } else { srv[i] = -1; sent[i] = -1; }
    key[i] = uv();
    off[i] = pos;
    skipValue(); skipValue();
  }
  // lanes: one per process, in process order
  var procs = Array.from(new Set(proc)).sort(function (a, b) { return a - b; });
  var laneOf = new Map();
  procs.forEach(function (p, l) { laneOf.set(p, l); });
  var lanes = procs.length, lane = new Int32Array(n), laneCount = new Int32Array(lanes + 1);
  for (i = 0; i < n; i++) { lane[i] = laneOf.get(proc[i]); laneCount[lane[i] + 1]++; }
  for (var l = 0; l < lanes; l++) laneCount[l + 1] += laneCount[l];
  var laneOps = new Int32Array(n), fill = laneCount.slice(0, lanes);
  for (i = 0; i < n; i++) laneOps[fill[lane[i]]++] = i;

  // --- highlighting -------------------------------------------------------------------
  var failing = meta.failing, failKey = -1, minimal = new Set(), prefix = new Set();
  if (failing) {
    failKey = failing.key === null ? -2 : strings.indexOf(failing.key) + 1;
    failing.minimal.forEach(function (id) { minimal.add(id); });
    failing.prefix.forEach(function (id) { prefix.add(id); });
  }
  var highlightBox = document.getElementById('fl-highlight');
  var focusOp = -1;

  // --- view ---------------------------------------------------------------------------
  var scroll = document.getElementById('fl-scroll');
  var canvas = document.getElementById('fl-canvas');
  var spacer = document.getElementById('fl-spacer');
  var tooltip = document.getElementById('fl-tooltip');
  var ctx = canvas.getContext('2d');
  var end = Math.max(meta.end, 1), vt0 = 0, vt1 = end;
  var H = Math.min(lanes * LANE_PX + AXIS_PX + 4, HEIGHT_MAX_PX);
  scroll.style.height = H + 'px';
  spacer.style.height = Math.max(0, lanes * LANE_PX + AXIS_PX + 4 - H) + 'px';
  var marker = document.createElement('div');
  if (failing) {
    marker.id = 'fl-failing-marker';
    marker.className = 'failing-marker';
    marker.setAttribute('data-op', failing.op);
    marker.title = 'cannot be linearized: ' + failing.text;
    marker.textContent = '\u2717 op ' + failing.op;
    root.appendChild(marker);
  }
  function W() { return scroll.clientWidth; }
  function xOf(tm) { return LABEL_PX + (tm - vt0) / (vt1 - vt0) * (W() - LABEL_PX); }
  function tOf(x) { return vt0 + (x - LABEL_PX) / (W() - LABEL_PX) * (vt1 - vt0); }
  function lowerBound(arr, lo, hi, v) {
    while (lo < hi) { var m = (lo + hi) >> 1; if (arr[m] < v) lo = m + 1; else hi = m; }
    return lo;
  }
  var NS = meta.ns_per_unit || 1, TIMED = meta.unit !== 'event';
  // A time for a tooltip: seconds with microsecond (or ns) precision.
  function fmtT(tm) {
    if (!TIMED) return 'event ' + Math.round(tm);
    return (tm * NS / 1e9).toFixed(NS === 1 ? 9 : 6) + ' s';
  }
  // A tick label: seconds with as many decimals as the tick step needs.
  function fmtTick(tm, step) {
    if (!TIMED) return String(Math.round(tm));
    var stepS = step * NS / 1e9, d = Math.max(0, Math.min(9, -Math.floor(Math.log10(stepS) + 1e-9)));
    return (tm * NS / 1e9).toFixed(d) + ' s';
  }
  function fmtDur(d) {
    var ns = d * NS;
    return ns < 1e4 ? ns.toFixed(0) + ' ns' : ns < 1e7 ? (ns / 1e3).toFixed(1) + ' \u00b5s' : (ns / 1e6).toFixed(2) + ' ms';
  }
  var FILL = ['#9bd89b', '#f4a9a9', '#ffd27f'], STROKE = ['#3a8a3a', '#c03030', '#c98500'];
  // colour by outcome (the default) or by the node that answered (the last one tried, for info)
  var nodes = meta.nodes || [], nodeColours = meta.node_colours || [], colourBy = 'outcome';
  var NO_NODE = '#cccccc';
  function nodeOf(i) { return srv[i] >= 0 ? srv[i] : sent[i]; }
  function fillOf(i, o) {
    if (colourBy !== 'node') return FILL[o] || FILL[2];
    var k = nodeOf(i);
    return k >= 0 ? nodeColours[k] : NO_NODE;
  }
  var BAND = { network: 'rgba(148,103,189,0.16)', kill: 'rgba(214,39,40,0.13)', pause: 'rgba(31,119,180,0.13)' };
  function dim(i) {
    if (!failing || !highlightBox || !highlightBox.checked || failKey === -2) return false;
    return key[i] !== failKey;
  }
  function label(i) {
    var f = fcodes[code[i] & 15], o = (code[i] >> 4) & 3, v = values(i);
    if (f === 'read' || f === 'get') return f[0] + ' ' + (o === 0 ? v[1] : '?');
    return f[0] + ' ' + v[0];
  }

  function draw() {
    var w = W(), dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(H * dpr)) {
      canvas.width = Math.round(w * dpr); canvas.height = Math.round(H * dpr);
      canvas.style.width = w + 'px'; canvas.style.height = H + 'px';
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, H);
    var first = Math.floor(scroll.scrollTop / LANE_PX);
    var visible = Math.ceil((H - AXIS_PX) / LANE_PX) + 1;
    var last = Math.min(lanes, first + visible);
    function yOf(l) { return AXIS_PX + (l - first) * LANE_PX; }
    // lane stripes and labels
    ctx.font = '10px sans-serif';
    for (var l = first; l < last; l++) {
      if (l % 2) { ctx.fillStyle = '#f6f6f6'; ctx.fillRect(LABEL_PX, yOf(l), w - LABEL_PX, LANE_PX); }
      ctx.fillStyle = '#555'; ctx.fillText('p ' + procs[l], 4, yOf(l) + 12);
    }
    ctx.save();
    ctx.beginPath(); ctx.rect(LABEL_PX, 0, w - LABEL_PX, H); ctx.clip();
    // nemesis bands
    meta.bands.forEach(function (bd) {
      if (bd.end < vt0 || bd.start > vt1) return;
      var x0 = Math.max(LABEL_PX, xOf(bd.start)), x1 = Math.min(w, xOf(bd.end));
      ctx.fillStyle = BAND[bd.kind] || 'rgba(120,120,120,0.13)';
      ctx.fillRect(x0, AXIS_PX, Math.max(1, x1 - x0), H - AXIS_PX);
      if (x1 - x0 > 50) { ctx.fillStyle = '#5b3f80'; ctx.fillText(bd.label, x0 + 3, AXIS_PX + 10); }
    });
    // ops
    var lo = sorted ? lowerBound(call, 0, n, vt0 - maxDur) : 0;
    var hi = sorted ? lowerBound(call, lo, n, vt1 + 1) : n;
    var summary = hi - lo > SUMMARY_OPS;
    root.setAttribute('data-mode', summary ? 'summary' : 'bars');
    if (summary) drawSummary(lo, hi, first, last, yOf, w);
    else {
      for (var i = lo; i < hi; i++) if (!isNaN(ret[i])) drawOp(i, first, last, yOf, w);
    }
    for (var k = 0; k < open.length; k++) if (call[open[k]] <= vt1) drawOp(open[k], first, last, yOf, w);
    // leader changes
    ctx.strokeStyle = '#1f4e9c'; ctx.fillStyle = '#1f4e9c'; ctx.setLineDash([3, 3]);
    meta.leaders.forEach(function (m) {
      if (m.time < vt0 || m.time > vt1) return;
      var x = xOf(m.time);
      ctx.beginPath(); ctx.moveTo(x, AXIS_PX); ctx.lineTo(x, H); ctx.stroke();
      ctx.fillText('leader ' + m.node + ' t' + m.term, x + 2, H - 4);
    });
    ctx.setLineDash([]);
    ctx.restore();
    drawAxis(w);
    placeMarker(first, last, yOf);
  }

  function drawOp(i, first, last, yOf, w) {
    var l = lane[i];
    if (l < first || l >= last) return;
    var o = (code[i] >> 4) & 3, isOpen = isNaN(ret[i]);
    var x0 = xOf(call[i]), x1 = isOpen ? w : xOf(ret[i]);
    if (x1 < LABEL_PX || x0 > w) return;
    var y = yOf(l) + 2, h = LANE_PX - 4, bw = Math.max(2, x1 - x0);
    ctx.globalAlpha = dim(i) ? 0.18 : (isOpen ? 0.55 : 1);
    var isFailing = failing && i === failing.op;
    ctx.fillStyle = isFailing ? '#d62728' : fillOf(i, o);
    ctx.fillRect(x0, y, bw, h);
    if (bw > 3 || isFailing || minimal.has(i) || i === focusOp) {
      ctx.lineWidth = isFailing || minimal.has(i) || i === focusOp ? 2 : 1;
      ctx.strokeStyle = i === focusOp ? '#1f4e9c' : (isFailing || minimal.has(i)) ? '#000' : STROKE[o];
      ctx.strokeRect(x0, y, bw, h);
    }
    if (bw > 34) {
      ctx.fillStyle = isFailing ? '#fff' : '#222';
      ctx.fillText(label(i).slice(0, Math.floor(bw / 6)), Math.max(x0, LABEL_PX) + 3, y + 9);
    }
    ctx.globalAlpha = 1;
  }

  // The summary (too many ops to draw one by one): per pixel column of a lane, the cell with
  // the highest value wins. Coloured by outcome, cell = severity + 4 when bright; by node, cell
  // = bright * 32768 + node index + 2 (1: an op without a node); 0 is empty.
  function drawSummary(lo, hi, first, last, yOf, w) {
    var SEV = [1, 2, 3];
    if (colourBy === 'node') {
      drawSummaryGrid(lo, hi, first, last, yOf, w, Uint16Array,
        function (i) { return nodeOf(i) + 2 + (dim(i) ? 0 : 32768); },
        function (cur) {
          var k = (cur & 32767) - 2;
          ctx.globalAlpha = cur & 32768 ? 1 : 0.18;
          ctx.fillStyle = k >= 0 ? nodeColours[k] : NO_NODE;
        });
    } else {
      drawSummaryGrid(lo, hi, first, last, yOf, w, Uint8Array,
        function (i) { return SEV[(code[i] >> 4) & 3] + (dim(i) ? 0 : 4); },
        function (cur) {
          ctx.globalAlpha = cur > 4 ? 1 : 0.18;
          ctx.fillStyle = FILL[(cur - 1) % 4] || FILL[2];
        });
    }
  }

  function drawSummaryGrid(lo, hi, first, last, yOf, w, Cells, cellOf, paint) {
    var cols = Math.max(1, Math.ceil(w - LABEL_PX)), rows = last - first;
    var grid = new Cells(cols * Math.max(rows, 1));
    var scale = (w - LABEL_PX) / (vt1 - vt0);
    for (var i = lo; i < hi; i++) {
      var l = lane[i] - first;
      if (l < 0 || l >= rows || isNaN(ret[i])) continue;
      var c0 = Math.floor((call[i] - vt0) * scale), c1 = Math.floor((ret[i] - vt0) * scale);
      if (c1 < 0 || c0 >= cols) continue;
      if (c0 < 0) c0 = 0;
      if (c1 >= cols) c1 = cols - 1;
      var s = cellOf(i);
      for (var c = c0; c <= c1; c++) if (grid[l * cols + c] < s) grid[l * cols + c] = s;
    }
    for (var r = 0; r < rows; r++) {
      var y = yOf(first + r) + 2, runStart = 0, cur = grid[r * cols];
      for (var c2 = 1; c2 <= cols; c2++) {
        var v = c2 < cols ? grid[r * cols + c2] : -1;
        if (v !== cur) {
          if (cur > 0) {
            paint(cur);
            ctx.fillRect(LABEL_PX + runStart, y, c2 - runStart, LANE_PX - 4);
          }
          runStart = c2; cur = v;
        }
      }
    }
    ctx.globalAlpha = 1;
  }

  function drawAxis(w) {
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, w, AXIS_PX - 12);
    ctx.strokeStyle = '#999'; ctx.fillStyle = '#333';
    ctx.beginPath(); ctx.moveTo(LABEL_PX, AXIS_PX - 1); ctx.lineTo(w, AXIS_PX - 1); ctx.stroke();
    var span = vt1 - vt0, target = span / Math.max(2, (w - LABEL_PX) / 110);
    var step = Math.pow(10, Math.floor(Math.log10(target)));
    if (target / step > 5) step *= 10; else if (target / step > 2) step *= 5; else if (target / step > 1) step *= 2;
    step = Math.max(step, 1);
    for (var tk = Math.ceil(vt0 / step) * step; tk <= vt1; tk += step) {
      var x = xOf(tk);
      ctx.beginPath(); ctx.moveTo(x, AXIS_PX - 5); ctx.lineTo(x, AXIS_PX); ctx.stroke();
      ctx.fillText(fmtTick(tk, step), x + 2, 10);
    }
  }

  function placeMarker(first, last, yOf) {
    if (!failing) return;
    var i = failing.op, l = lane[i];
    var x = xOf(call[i]);
    var inView = l >= first && l < last && x >= LABEL_PX - 1 && x <= W();
    marker.style.display = inView ? 'block' : 'none';
    marker.style.left = (scroll.offsetLeft + x) + 'px';
    marker.style.top = (scroll.offsetTop + yOf(l) - 14) + 'px';
  }

  // --- details ------------------------------------------------------------------------
  function readValue() {
    var tag = uv();
    switch (tag) {
      case 0: return 'null';
      case 1: return '?';
      case 2: return String(zz());
      case 3: return strings[uv()];
      case 4: var k = uv(), a = []; for (var j = 0; j < k; j++) a.push(zz()); return '[' + a.join(' ') + ']';
      case 7: var p0 = zz(); return '[' + p0 + ' ' + zz() + ']';
      case 5: return undefined;
      default: return null;
    }
  }
  function values(i) {
    pos = off[i];
    var input = readValue(), output = readValue();
    if (output === undefined) output = input;
    return [input, output];
  }
  function describe(i) {
    var f = fcodes[code[i] & 15], o = ['ok', 'fail', 'info'][(code[i] >> 4) & 3], v = values(i);
    var k = key[i] > 0 ? ' · key ' + strings[key[i] - 1] : '';
    var what = (f === 'read' || f === 'get') ? f + (o === 'ok' ? ' \u2192 ' + v[1] : '') : f + ' ' + v[0];
    var lines = ['op ' + i + ' · process ' + proc[i] + k, what + ' (' + o + ')'];
    var span = 'invoke ' + fmtT(call[i]);
    if (!isNaN(ret[i])) span += ' · complete ' + fmtT(ret[i]) + (TIMED ? ' · took ' + fmtDur(ret[i] - call[i]) : '');
    else span += ' · never completed (may take effect any time after)';
    lines.push(span);
    if (err[i] >= 0) lines.push('error: ' + strings[err[i]]);
    if (srv[i] >= 0 || sent[i] >= 0) {
      var by = srv[i] >= 0 ? nodes[srv[i]] : null, to = sent[i] >= 0 ? nodes[sent[i]] : null;
      var how = o === 'info' ? 'last sent to ' : o === 'fail' ? 'answered (fail) by ' : 'answered by ';
      lines.push('node: ' + (by === null ? 'sent to ' + to : how + by + (to !== null && to !== by ? ' (sent first to ' + to + ')' : '')));
    }
    if (failing && i === failing.op) lines.push('\u2717 cannot be linearized: ' + failing.text);
    else if (minimal.has(i)) lines.push('in the smallest failing sub-history');
    else if (prefix.has(i)) lines.push('in the longest linearizable prefix');
    return lines.join('\n');
  }
  function opAt(mx, my) {
    var l = Math.floor(scroll.scrollTop / LANE_PX) + Math.floor((my - AXIS_PX) / LANE_PX);
    if (my < AXIS_PX || l < 0 || l >= lanes) return -1;
    var tol = 3 * (vt1 - vt0) / (W() - LABEL_PX), tm = tOf(mx);
    var a = laneCount[l], z = laneCount[l + 1];
    var j, lo2 = a, hi2 = z;
    while (lo2 < hi2) { var m = (lo2 + hi2) >> 1; if (call[laneOps[m]] <= tm + tol) lo2 = m + 1; else hi2 = m; }
    for (j = lo2 - 1; j >= a && j >= lo2 - 64; j--) {
      var i = laneOps[j], r = isNaN(ret[i]) ? Infinity : ret[i];
      if (r + tol >= tm) return i;
    }
    return -1;
  }

  // --- interaction --------------------------------------------------------------------
  var scheduled = false;
  function redraw() { if (!scheduled) { scheduled = true; requestAnimationFrame(function () { scheduled = false; draw(); }); } }
  function zoom(factor, at) {
    var span = Math.min(end * 1.05, Math.max(4, (vt1 - vt0) * factor));
    var frac = (at - vt0) / (vt1 - vt0);
    vt0 = at - frac * span; vt1 = vt0 + span;
    redraw();
  }
  canvas.addEventListener('wheel', function (e) {
    if (e.shiftKey) return;
    e.preventDefault();
    zoom(Math.exp(e.deltaY * 0.002), tOf(e.offsetX));
  }, { passive: false });
  var drag = null;
  canvas.addEventListener('mousedown', function (e) { drag = { x: e.offsetX, t0: vt0, t1: vt1 }; });
  window.addEventListener('mouseup', function () { drag = null; });
  canvas.addEventListener('mousemove', function (e) {
    if (drag) {
      var dt = (e.offsetX - drag.x) / (W() - LABEL_PX) * (drag.t1 - drag.t0);
      vt0 = drag.t0 - dt; vt1 = drag.t1 - dt; redraw(); return;
    }
    var i = opAt(e.offsetX, e.offsetY);
    if (i < 0) { tooltip.style.display = 'none'; return; }
    tooltip.textContent = describe(i);
    tooltip.style.display = 'block';
    tooltip.style.left = (scroll.offsetLeft + e.offsetX + 14) + 'px';
    tooltip.style.top = (scroll.offsetTop + e.offsetY + 14) + 'px';
  });
  canvas.addEventListener('mouseleave', function () { tooltip.style.display = 'none'; });
  scroll.addEventListener('scroll', redraw);
  window.addEventListener('resize', redraw);
  function on(id, f) { var el = document.getElementById(id); if (el) el.addEventListener('click', f); if (el && el.type === 'checkbox') el.addEventListener('change', f); }
  on('fl-zoom-in', function () { zoom(0.5, (vt0 + vt1) / 2); });
  on('fl-zoom-out', function () { zoom(2, (vt0 + vt1) / 2); });
  on('fl-zoom-reset', function () { vt0 = 0; vt1 = end; redraw(); });
  on('fl-highlight', redraw);
  var colourSelect = document.getElementById('fl-colour-by');
  // The select's value may be restored by the browser on a reload: follow it, on load too.
  function setColourBy(drawNow) {
    colourBy = colourSelect.value === 'node' ? 'node' : 'outcome';
    var legend = document.getElementById('fl-node-legend');
    if (legend) legend.hidden = colourBy !== 'node';
    root.setAttribute('data-colour-by', colourBy);
    if (drawNow) draw();
  }
  if (colourSelect) {
    colourSelect.addEventListener('change', function () { setColourBy(true); });
    setColourBy(false);
  }
  function show(i) {
    var r = isNaN(ret[i]) ? call[i] + (vt1 - vt0) / 20 : ret[i];
    var pad = Math.max((r - call[i]) * 4, 20);
    vt0 = call[i] - pad; vt1 = r + pad;
    scroll.scrollTop = Math.max(0, (lane[i] - 3) * LANE_PX);
    focusOp = i; draw();
  }
  on('fl-goto-failing', function () { if (failing) show(failing.op); });
  Array.prototype.forEach.call(document.querySelectorAll('.op-link'), function (a) {
    a.addEventListener('click', function () { var id = +a.getAttribute('data-op'); if (id >= 0 && id < n) show(id); });
  });

  // First draw now (not in a frame callback), so that the page is complete when `load` fires.
  if (failing) scroll.scrollTop = Math.max(0, (lane[failing.op] - 3) * LANE_PX);
  draw();
  root.setAttribute('data-lanes', String(lanes));
  root.setAttribute('data-ops', String(n));
  root.setAttribute('data-bands', String(meta.bands.length));
  root.setAttribute('data-leaders', String(meta.leaders.length));
  root.setAttribute('data-nodes', String(nodes.length));
  root.setAttribute('data-decode-ms', (performance.now() - tDecode).toFixed(1));
  root.setAttribute('data-ready-ms', performance.now().toFixed(1));
})();
