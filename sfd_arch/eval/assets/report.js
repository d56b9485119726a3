/* report.html of sfd_arch: sortable tables, the two-image viewer and the bench scatter plots.
   Plain browser JavaScript, no library and no network: the page has to open from a copied folder. */
(function () {
  'use strict';

  // -- sortable tables: a header click sorts by its column, best first for a metric, again reverses ------------
  function cellKey(td) {
    var v = td.getAttribute('data-v');
    if (v === null || v === '') { return null; }
    var num = Number(v);
    return isNaN(num) ? v.toLowerCase() : num;
  }

  function compareKeys(a, b) {
    if (a === null && b === null) { return 0; }
    if (a === null) { return 1; }  // missing values sit at the bottom in both orders
    if (b === null) { return -1; }
    return a < b ? -1 : (a > b ? 1 : 0);
  }

  function sortTable(table, col, th) {
    var current = th.getAttribute('aria-sort');
    var bestFirst = th.getAttribute('data-dir') === 'higher' ? 'descending' : 'ascending';
    var order = current ? (current === 'ascending' ? 'descending' : 'ascending') : bestFirst;
    var sign = order === 'ascending' ? 1 : -1;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', order);
    Array.prototype.forEach.call(table.tBodies, function (body) {
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (r1, r2) {
        var a = cellKey(r1.cells[col]), b = cellKey(r2.cells[col]);
        if (a === null || b === null) { return compareKeys(a, b); }
        return sign * compareKeys(a, b) || (Number(r1.getAttribute('data-i')) - Number(r2.getAttribute('data-i')));
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  }

  function initSortable(table) {
    Array.prototype.forEach.call(table.tBodies, function (body) {
      Array.prototype.forEach.call(body.rows, function (r, i) { r.setAttribute('data-i', String(i)); });
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.title = th.title || 'sort by this column';
      th.addEventListener('click', function () { sortTable(table, col, th); });
    });
  }

  // -- the viewer: two sources in one frame, a divider between them, wheel zoom and drag pan in step ----------
  function Viewer(root) {
    this.root = root;
    this.stage = root.querySelector('.stage');
    this.imgA = root.querySelector('.layer.a img');
    this.imgB = root.querySelector('.layer.b img');
    this.layerB = root.querySelector('.layer.b');
    this.divider = root.querySelector('.divider');
    this.pickA = root.querySelector('select.pick-a');
    this.pickB = root.querySelector('select.pick-b');
    this.zoomTag = root.querySelector('.zoom');
    this.split = 0.5;  // divider position, a fraction of the stage width
    this.scale = 1; this.tx = 0; this.ty = 0; this.fitted = false;
    this.bind();
    this.pick();
  }

  Viewer.prototype.bind = function () {
    var self = this;
    this.pickA.addEventListener('change', function () { self.pick(); });
    this.pickB.addEventListener('change', function () { self.pick(); });
    this.root.querySelector('button.fit').addEventListener('click', function () { self.fit(); });
    this.imgA.addEventListener('load', function () { if (!self.fitted) { self.fit(); } });
    this.stage.addEventListener('wheel', function (e) {
      e.preventDefault();
      var r = self.stage.getBoundingClientRect();
      self.zoomAt(e.clientX - r.left, e.clientY - r.top, Math.exp(-e.deltaY * 0.0015));
    }, { passive: false });
    this.stage.addEventListener('pointerdown', function (e) { self.down(e); });
    this.stage.addEventListener('pointermove', function (e) { self.move(e); });
    ['pointerup', 'pointercancel'].forEach(function (t) {
      self.stage.addEventListener(t, function () { self.drag = null; self.stage.classList.remove('panning'); });
    });
    window.addEventListener('resize', function () { self.apply(); });
  };

  Viewer.prototype.down = function (e) {
    var r = this.stage.getBoundingClientRect();
    this.drag = e.target.closest('.divider') ? { kind: 'divider' }
      : { kind: 'pan', x: e.clientX, y: e.clientY, tx: this.tx, ty: this.ty };
    if (this.drag.kind === 'pan') { this.stage.classList.add('panning'); }
    if (this.stage.setPointerCapture) { try { this.stage.setPointerCapture(e.pointerId); } catch (err) { /* synthetic */ } }
    if (this.drag.kind === 'divider') { this.moveDivider(e.clientX - r.left); }
    e.preventDefault();
  };

  Viewer.prototype.move = function (e) {
    if (!this.drag) { return; }
    var r = this.stage.getBoundingClientRect();
    if (this.drag.kind === 'divider') {
      this.moveDivider(e.clientX - r.left);
    } else {
      this.tx = this.drag.tx + e.clientX - this.drag.x;
      this.ty = this.drag.ty + e.clientY - this.drag.y;
      this.apply();
    }
  };

  Viewer.prototype.moveDivider = function (x) {
    var w = this.stage.clientWidth || 1;
    this.split = Math.min(1, Math.max(0, x / w));
    this.apply();
  };

  Viewer.prototype.zoomAt = function (x, y, factor) {
    var s = Math.min(64, Math.max(0.05, this.scale * factor));
    factor = s / this.scale;  // the image point under the cursor stays under it
    this.tx = x - (x - this.tx) * factor;
    this.ty = y - (y - this.ty) * factor;
    this.scale = s;
    this.apply();
  };

  Viewer.prototype.fit = function () {
    var nw = this.imgA.naturalWidth, nh = this.imgA.naturalHeight;
    var w = this.stage.clientWidth, h = this.stage.clientHeight;
    if (!nw || !nh || !w || !h) { return; }
    this.scale = Math.min(w / nw, h / nh);
    this.tx = (w - nw * this.scale) / 2;
    this.ty = (h - nh * this.scale) / 2;
    this.fitted = true;
    this.apply();
  };

  Viewer.prototype.pick = function () {
    var a = this.pickA.options[this.pickA.selectedIndex], b = this.pickB.options[this.pickB.selectedIndex];
    if (this.imgA.getAttribute('src') !== a.value) { this.imgA.src = a.value; }
    if (this.imgB.getAttribute('src') !== b.value) { this.imgB.src = b.value; }
    this.imgA.alt = a.text; this.imgB.alt = b.text;
    this.root.querySelector('.tag.left').textContent = a.text;
    this.root.querySelector('.tag.right').textContent = b.text;
    var shown = [a.text, b.text];
    Array.prototype.forEach.call(this.root.querySelectorAll('tr[data-source]'), function (tr) {
      tr.classList.toggle('shown', shown.indexOf(tr.getAttribute('data-source')) >= 0);
    });
    if (this.imgA.complete && this.imgA.naturalWidth && !this.fitted) { this.fit(); }
  };

  Viewer.prototype.apply = function () {
    var t = 'translate(' + this.tx + 'px,' + this.ty + 'px) scale(' + this.scale + ')';
    this.imgA.style.transform = t;
    this.imgB.style.transform = t;
    var x = this.split * this.stage.clientWidth;
    this.layerB.style.clipPath = 'inset(0 0 0 ' + x + 'px)';
    this.divider.style.left = x + 'px';
    this.stage.classList.toggle('pixels', this.scale >= 2);
    this.zoomTag.textContent = Math.round(this.scale * 100) + '%';
  };

  // -- bench scatter plots: score against MOS, the fitted logistic, a tooltip per point ------------------------
  var SVG = 'http://www.w3.org/2000/svg';

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function ticks(lo, hi, n) {
    // a 1-2-5 step giving at most about n ticks between lo and hi
    var raw = (hi - lo) / n || 1, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 5, 10].map(function (m) { return m * mag; }).filter(function (s) { return s >= raw; })[0];
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) { out.push(Number(v.toPrecision(6))); }
    return out;
  }

  function logistic(x, b) { return (b[0] - b[1]) / (1 + Math.exp(-(x - b[2]) / (Math.abs(b[3]) + 1e-12))) + b[1]; }

  function drawScatter(holder, plot, tip) {
    var W = 300, H = 250, L = 46, R = 10, T = 22, B = 36;
    var xs = plot.x, ys = plot.mos;
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    var px = (x1 - x0) * 0.05 || 1, py = (y1 - y0) * 0.05 || 1;
    x0 -= px; x1 += px; y0 -= py; y1 += py;
    var sx = function (v) { return L + (v - x0) / (x1 - x0) * (W - L - R); };
    var sy = function (v) { return H - B - (v - y0) / (y1 - y0) * (H - T - B); };
    var svg = el('svg', { width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img' }, holder);
    ticks(x0, x1, 5).forEach(function (v) {
      el('line', { x1: sx(v), x2: sx(v), y1: T, y2: H - B, 'class': 'grid' }, svg);
      el('text', { x: sx(v), y: H - B + 13, 'text-anchor': 'middle' }, svg).textContent = v;
    });
    ticks(y0, y1, 5).forEach(function (v) {
      el('line', { x1: L, x2: W - R, y1: sy(v), y2: sy(v), 'class': 'grid' }, svg);
      el('text', { x: L - 4, y: sy(v) + 4, 'text-anchor': 'end' }, svg).textContent = v;
    });
    el('path', { d: 'M' + L + ' ' + T + 'V' + (H - B) + 'H' + (W - R), 'class': 'axis' }, svg);
    el('text', { x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle' }, svg).textContent = plot.xlabel;
    el('text', { x: 12, y: (T + H - B) / 2, 'text-anchor': 'middle',
                 transform: 'rotate(-90 12 ' + (T + H - B) / 2 + ')' }, svg).textContent = 'MOS';
    el('text', { x: L, y: 14 }, svg).textContent = plot.title;
    if (plot.logistic) {
      var d = '', pen = false;
      for (var i = 0; i <= 80; i++) {
        var xv = x0 + (x1 - x0) * i / 80, yv = logistic(xv, plot.logistic);
        // outside the plotted MOS range the curve is left out (a clamped line would read as data)
        var inside = isFinite(yv) && yv >= y0 && yv <= y1;
        if (inside) { d += (pen ? 'L' : 'M') + sx(xv).toFixed(1) + ' ' + sy(yv).toFixed(1); }
        pen = inside;
      }
      el('path', { d: d, 'class': 'fit' }, svg);
    }
    xs.forEach(function (xv, k) {
      var c = el('circle', { cx: sx(xv), cy: sy(ys[k]), r: 3.2, 'class': 'pt' }, svg);
      var text = plot.images[k] + ' \u00b7 MOS ' + fmt(ys[k]) + ' \u00b7 ' + plot.metric + ' ' + fmt(plot.score[k]);
      el('title', {}, c).textContent = text;
      c.addEventListener('mouseenter', function () {
        c.classList.add('hover');
        tip.textContent = text;
        tip.style.display = 'block';
        var hb = holder.getBoundingClientRect(), cb = c.getBoundingClientRect();
        tip.style.left = (cb.left - hb.left + 8) + 'px';
        var above = cb.top - hb.top - 26;  // below the point when there is no room above it (the title's row)
        tip.style.top = (above < 20 ? cb.bottom - hb.top + 6 : above) + 'px';
      });
      c.addEventListener('mouseleave', function () { c.classList.remove('hover'); tip.style.display = 'none'; });
    });
  }

  function fmt(v) { return Math.abs(v) >= 100 ? v.toFixed(1) : (Math.abs(v) >= 10 ? v.toFixed(2) : v.toFixed(4)); }

  function initScatters(data) {
    Array.prototype.forEach.call(document.querySelectorAll('.scatters[data-dataset]'), function (box) {
      var plots = (data.scatter || {})[box.getAttribute('data-dataset')] || [];
      plots.forEach(function (plot) {
        var holder = document.createElement('div');
        holder.className = 'scatter';
        holder.setAttribute('data-metric', plot.metric);
        box.appendChild(holder);
        var tip = document.createElement('div');
        tip.className = 'tip';
        holder.appendChild(tip);
        drawScatter(holder, plot, tip);
      });
    });
  }

  function init() {
    var node = document.getElementById('report-data');
    var data = node ? JSON.parse(node.textContent) : {};
    Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), initSortable);
    window.sfdViewers = Array.prototype.map.call(document.querySelectorAll('.viewer'), function (v) {
      return new Viewer(v);
    });
    initScatters(data);
    document.documentElement.setAttribute('data-ready', '1');
  }

  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', init); } else { init(); }
}());
