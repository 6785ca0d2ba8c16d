// gan-mixup's offline viewer: runs side by side on one time axis, metrics under the pictures.
// Everything comes from data/index.js (the runs) and data/run_NNN.js (a run's frames and curves,
// loaded as <script>s when first shown: browsers refuse fetch() on file://). No network, no server.
(function () {
  'use strict';
  const INDEX = window.GM_INDEX;
  const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf',
    '#bcbd22', '#7f7f7f', '#393b79', '#637939', '#8c6d31', '#843c39', '#7b4173', '#3182bd'];
  const REAL = 'rgba(255,127,14,0.35)', FAKE = 'rgba(11,93,30,0.9)';  // the GIF frames' colours
  const QUIVER_LENGTH = 0.09;  // arrow length, as a share of the frame's half-width (as the GIF frames)
  const BASE_FPS = 8;
  // The curves: the registered metrics first (data/index.js: gan_mixup.metric_registry's order,
  // labels and directions), then what training records besides them.
  const METRICS = INDEX ? INDEX.metrics || [] : [];
  const ORDER = [...METRICS.map(m => m.name), 'd_loss', 'g_loss', 'lambda_mean', 'd_real', 'd_fake'];
  const NAMES = {d_loss: 'D loss', g_loss: 'G loss', lambda_mean: 'λ (mean)', d_real: 'D(real)', d_fake: 'D(fake)'};
  const BETTER = {};
  METRICS.forEach(m => { NAMES[m.name] = m.label; if (m.better) BETTER[m.name] = `${m.better} is better`; });

  function fatal(text) {
    const box = document.getElementById('fatal');
    box.textContent = text;
    box.hidden = false;
  }
  if (!INDEX) { fatal('data/index.js is missing or damaged: write the viewer again with `gan-mixup view`.'); return; }

  const runs = INDEX.runs;
  const axis = INDEX.axis;
  const loaded = {};   // run id -> its decoded data
  const waiting = {};  // run id -> callbacks waiting for its file
  const state = {idx: 0, playing: false, speed: 1, field: true, shown: [], blink: false, blinkA: 0, blinkB: Math.min(1, runs.length - 1),
    blinkSide: 0, painted: false};
  let timer = null, blinkTimer = null;
  const panels = {};   // key -> panel element (key: run id, or 'blink')
  runs.forEach((r, i) => { r.colour = PALETTE[i % PALETTE.length]; });

  // ----- data files ---------------------------------------------------------------------------
  window.GM_RUN = function (name, data) {
    const run = runs.find(r => r.file === name);
    if (!run) return;
    loaded[run.id] = data;
    (waiting[run.id] || []).forEach(fn => fn());
    delete waiting[run.id];
  };

  function withRun(run, fn) {
    if (loaded[run.id] || run.loadError) { fn(); return; }
    if (waiting[run.id]) { waiting[run.id].push(fn); return; }
    waiting[run.id] = [fn];
    const script = document.createElement('script');
    script.src = 'data/' + run.file;
    script.onerror = () => {
      run.loadError = 'data/' + run.file + ' is missing: write the viewer again';
      (waiting[run.id] || []).forEach(f => f());
      delete waiting[run.id];
    };
    document.head.appendChild(script);
  }

  function bytes(b64) {
    const s = atob(b64);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }

  function decoded(run, it) {
    // a frame's arrays and picture, decoded once; null when the run has no frame at ``it``
    const frame = loaded[run.id].frames[String(it)];
    if (!frame || frame.error || frame.cache) return frame || null;
    const c = {};
    if (frame.fake) {
      c.fake = new Int16Array(bytes(frame.fake).buffer);
      const a = bytes(frame.arrows);
      c.arrows = {index: [], angle: [], shade: []};
      for (let k = 0; k + 3 < a.length; k += 4) {
        c.arrows.index.push(a[k] | (a[k + 1] << 8)); c.arrows.angle.push(a[k + 2]); c.arrows.shade.push(a[k + 3]);
      }
      c.field = frame.field ? bytes(frame.field) : new Uint8Array(0);
      c.near3 = new Uint16Array(bytes(frame.near3).buffer);
      c.near10 = new Uint16Array(bytes(frame.near10).buffer);
    }
    const src = frame.surface || frame.grid;
    if (src) { c.image = new Image(); c.image.src = src; }
    frame.cache = c;
    return frame;
  }

  function imageReady(img, fn) {
    if (!img || (img.complete && img.naturalWidth)) { fn(); return; }
    img.addEventListener('load', fn, {once: true});
    img.addEventListener('error', fn, {once: true});
  }

  // ----- drawing a toy frame ------------------------------------------------------------------
  function niceTicks(extent) {
    const raw = extent / 2, p = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map(m => m * p).find(s => s >= raw) || raw;
    const ticks = [];
    for (let v = -Math.floor(extent / step) * step; v <= extent + 1e-9; v += step) ticks.push(+v.toFixed(6));
    return ticks;
  }

  function drawPoints(ctx, size, ref, frame) {
    const c = frame.cache, E = ref.extent, S = ref.scale;
    const left = 30, bottom = 16, top = 4, right = 4;
    const w = size - left - right, h = size - top - bottom;
    const px = x => left + (x / E + 1) / 2 * w, py = y => top + (1 - (y / E + 1) / 2) * h;
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, size, size);
    if (c.image && c.image.naturalWidth) {
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(c.image, left, top, w, h);
    }
    ctx.save();
    ctx.beginPath(); ctx.rect(left, top, w, h); ctx.clip();
    if (state.field) drawField(ctx, c.field, left, top, w, h);
    const real = ref.realPoints;
    ctx.strokeStyle = REAL; ctx.lineWidth = 0.8; ctx.beginPath();
    for (let i = 0; i < real.length; i += 2) {
      if (real[i] === -32768) continue;
      const x = px(real[i] / S * E), y = py(real[i + 1] / S * E);
      ctx.moveTo(x - 2, y); ctx.lineTo(x + 2, y); ctx.moveTo(x, y - 2); ctx.lineTo(x, y + 2);
    }
    ctx.stroke();
    const fake = c.fake;
    ctx.fillStyle = FAKE; ctx.beginPath();
    for (let i = 0; i < fake.length; i += 2) {
      if (fake[i] === -32768) continue;
      const x = px(fake[i] / S * E), y = py(fake[i + 1] / S * E);
      ctx.moveTo(x + 1.5, y); ctx.arc(x, y, 1.5, 0, 2 * Math.PI);
    }
    ctx.fill();
    const len = QUIVER_LENGTH * E;
    for (let k = 0; k < c.arrows.index.length; k++) {
      const i = 2 * c.arrows.index[k], t = c.arrows.angle[k] / 256 * 2 * Math.PI, shade = 0.4 + 0.6 * c.arrows.shade[k] / 255;
      const x0 = fake[i] / S * E, y0 = fake[i + 1] / S * E, x1 = x0 + Math.cos(t) * len, y1 = y0 + Math.sin(t) * len;
      const g = Math.round(255 * (1 - shade));
      ctx.strokeStyle = `rgba(${g},${g},${g},0.6)`; ctx.fillStyle = ctx.strokeStyle; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(px(x0), py(y0)); ctx.lineTo(px(x1), py(y1)); ctx.stroke();
      const a = Math.atan2(py(y1) - py(y0), px(x1) - px(x0));
      ctx.beginPath(); ctx.moveTo(px(x1), py(y1));
      ctx.lineTo(px(x1) - 4 * Math.cos(a - 0.45), py(y1) - 4 * Math.sin(a - 0.45));
      ctx.lineTo(px(x1) - 4 * Math.cos(a + 0.45), py(y1) - 4 * Math.sin(a + 0.45)); ctx.fill();
    }
    ctx.strokeStyle = '#000'; ctx.lineWidth = 1.6; ctx.fillStyle = '#000'; ctx.font = 'bold 10px sans-serif';
    ref.modes.forEach((m, k) => {
      const x = px(m[0]), y = py(m[1]);
      ctx.beginPath(); ctx.moveTo(x - 3, y - 3); ctx.lineTo(x + 3, y + 3); ctx.moveTo(x - 3, y + 3); ctx.lineTo(x + 3, y - 3); ctx.stroke();
      ctx.fillText(String(k + 1), x + 4, y - 3);
    });
    ctx.restore();
    ctx.strokeStyle = '#444'; ctx.lineWidth = 1; ctx.strokeRect(left, top, w, h);
    ctx.fillStyle = '#333'; ctx.font = '9px sans-serif';
    niceTicks(E).forEach(v => {
      ctx.textAlign = 'center'; ctx.fillText(String(v), px(v), size - 4);
      ctx.textAlign = 'right'; ctx.fillText(String(v), left - 3, py(v) + 3);
    });
    ctx.textAlign = 'left';
  }

  function drawField(ctx, field, left, top, w, h) {
    // D's gradient field on a lattice (row 0 at the top): arrows of one length, darker where steeper
    const n = Math.round(Math.sqrt(field.length / 2));
    if (!n) return;
    const cw = w / n, ch = h / n, len = 0.32 * Math.min(cw, ch);
    ctx.lineWidth = 1;
    for (let r = 0; r < n; r++) for (let q = 0; q < n; q++) {
      const k = 2 * (r * n + q), shade = field[k + 1];
      if (!shade) continue;
      const t = field[k] / 256 * 2 * Math.PI, dx = Math.cos(t) * len, dy = -Math.sin(t) * len;
      const x = left + (q + 0.5) * cw, y = top + (r + 0.5) * ch;
      ctx.strokeStyle = ctx.fillStyle = `rgba(20,20,40,${(0.15 + 0.45 * shade / 255).toFixed(2)})`;
      ctx.beginPath(); ctx.moveTo(x - dx, y - dy); ctx.lineTo(x + dx, y + dy); ctx.stroke();
      const a = Math.atan2(dy, dx);
      ctx.beginPath(); ctx.moveTo(x + dx, y + dy);
      ctx.lineTo(x + dx - 3.5 * Math.cos(a - 0.5), y + dy - 3.5 * Math.sin(a - 0.5));
      ctx.lineTo(x + dx - 3.5 * Math.cos(a + 0.5), y + dy - 3.5 * Math.sin(a + 0.5)); ctx.fill();
    }
  }

  function drawBars(canvas, ref, frame, width) {
    // per mode: the share of samples within 3σ (blue) and 10σ (orange); a mode is covered at 1%
    const k = ref.modes.length, height = 58, ctx = setupCanvas(canvas, width, height);
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, width, height);
    if (!k || !frame || !frame.cache || !frame.cache.near3) return;
    const n = ref.realPoints.length / 2, c = frame.cache, need = Math.max(1, 0.01 * n);
    const top = Math.max(2 / k, 0.05), slot = (width - 8) / k, base = height - 12, h = base - 8;
    ctx.strokeStyle = '#999'; ctx.setLineDash([2, 2]);
    ctx.beginPath(); ctx.moveTo(4, base - h * Math.min(1, 0.01 / top)); ctx.lineTo(width - 4, base - h * Math.min(1, 0.01 / top)); ctx.stroke();
    ctx.setLineDash([]);
    ctx.font = '9px sans-serif'; ctx.textAlign = 'center';
    for (let m = 0; m < k; m++) {
      const x = 4 + m * slot, bw = Math.max(1, slot / 2 - 1);
      const f3 = c.near3[m] / n, f10 = c.near10[m] / n;
      ctx.fillStyle = '#1f77b4'; ctx.fillRect(x, base - h * Math.min(1, f3 / top), bw, h * Math.min(1, f3 / top));
      ctx.fillStyle = '#ff7f0e'; ctx.fillRect(x + bw, base - h * Math.min(1, f10 / top), bw, h * Math.min(1, f10 / top));
      ctx.fillStyle = c.near3[m] >= need ? '#000' : '#999';
      ctx.font = (c.near3[m] >= need ? 'bold ' : '') + '9px sans-serif';
      ctx.fillText(String(m + 1), x + slot / 2, height - 2);
    }
    ctx.fillStyle = '#555'; ctx.textAlign = 'left'; ctx.font = '9px sans-serif';
    ctx.fillText('samples per mode: ■3σ ■10σ (bold: covered, ≥ 1%)', 4, 8);
  }

  function drawImages(ctx, size, ref, frame) {
    const img = frame.cache.image;
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, size, size);
    if (!img || !img.naturalWidth) return null;
    const scale = Math.min(size / img.naturalWidth, size / img.naturalHeight);
    ctx.imageSmoothingEnabled = false;
    const w = img.naturalWidth * scale, h = img.naturalHeight * scale;
    ctx.drawImage(img, 0, 0, w, h);
    return scale;
  }

  function setupCanvas(canvas, width, height) {
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr); canvas.height = Math.round(height * dpr);
      canvas.style.width = width + 'px'; canvas.style.height = height + 'px';
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return ctx;
  }

  // ----- panels --------------------------------------------------------------------------------
  function panelSize() {
    const n = state.blink ? 1 : state.shown.length;
    return n <= 1 ? 420 : n <= 2 ? 380 : n <= 4 ? 300 : n <= 9 ? 240 : 200;
  }

  function makePanel(key) {
    const el = document.createElement('div');
    el.className = 'panel';
    el.innerHTML = '<div class="ptitle"><span class="swatch"></span><span class="label"></span><span class="badge" hidden></span></div>' +
      '<div class="pbody"><canvas class="frame"></canvas><div class="message" hidden></div></div>' +
      '<canvas class="bars" hidden></canvas><div class="pinfo"></div>';
    el.dataset.key = key;
    el.querySelector('canvas.frame').addEventListener('click', ev => openZoom(el, ev));
    return el;
  }

  function message(el, text, size) {
    const canvas = el.querySelector('canvas.frame');
    const ctx = setupCanvas(canvas, size, size);
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, size, size);
    const box = el.querySelector('.message');
    box.textContent = text; box.hidden = false;
    el.querySelector('canvas.bars').hidden = true;
  }

  function drawPanel(el, run, it) {
    const size = panelSize();
    el.style.width = (size + 10) + 'px';
    el.dataset.run = run.id;
    el.querySelector('.swatch').style.background = run.colour;
    el.querySelector('.label').textContent = run.label;
    el.querySelector('.label').title = run.label + (run.group ? ' · ' + Object.entries(run.group).map(e => e.join(' ')).join(', ') : '');
    const badge = el.querySelector('.badge');
    badge.hidden = !run.status; badge.textContent = run.status; badge.className = 'badge ' + run.status;
    const done = (stateName, note) => {
      el.dataset.iteration = String(it); el.dataset.state = stateName;
      el.querySelector('.pinfo').textContent = note;
      firstPaint();
    };
    el.querySelector('.pinfo').textContent = '';
    if (run.error) { message(el, run.error, size); done('error', ''); return; }
    el.dataset.state = 'loading';
    withRun(run, () => {
      if (axis[state.idx] !== it || el.dataset.run !== String(run.id)) return;  // moved on meanwhile
      if (run.loadError) { message(el, run.loadError, size); done('error', ''); return; }
      const data = loaded[run.id];
      const frame = decoded(run, it);
      if (!frame) {
        const last = run.iterations.length ? run.iterations[run.iterations.length - 1] : 0;
        message(el, it > last ? `the run ends at iteration ${last.toLocaleString('en')}` : `no snapshot at iteration ${it.toLocaleString('en')}`, size);
        done('missing', ''); return;
      }
      if (frame.error) { message(el, frame.error, size); done('error', ''); return; }
      imageReady(frame.cache.image, () => {
        if (axis[state.idx] !== it || el.dataset.run !== String(run.id)) return;
        el.querySelector('.message').hidden = true;
        const canvas = el.querySelector('canvas.frame');
        const ctx = setupCanvas(canvas, size, size);
        const ref = data.reference;
        let note = '';
        if (run.modality === 'toy') {
          if (!ref.realPoints) ref.realPoints = new Int16Array(bytes(ref.real).buffer);
          canvas.className = 'frame points';
          drawPoints(ctx, size, ref, frame);
          const bars = el.querySelector('canvas.bars');
          bars.hidden = !ref.modes.length;
          drawBars(bars, ref, frame, size);
          note = pointsNote(run, it, ref, frame);
        } else {
          canvas.className = 'frame images';
          el.zoomScale = drawImages(ctx, size, ref, frame);
          note = metricsNote(run, it, ['frechet', 'precision', 'recall', 'modes_covered']) + ' · click a sample to enlarge it';
        }
        done('ok', note);
      });
      preload(run, state.idx);
    });
  }

  function preload(run, idx) {
    for (let k = 1; k <= 3; k++) if (axis[idx + k] !== undefined) decoded(run, axis[idx + k]);
  }

  function pointsNote(run, it, ref, frame) {
    const fake = frame.cache.fake;
    let missing = 0;
    for (let i = 0; i < fake.length; i += 2) if (fake[i] === -32768) missing++;
    return metricsNote(run, it, ['modes_covered', 'modes_near', 'outside_frame']) + (missing ? ` · ${missing} non-finite samples dropped` : '');
  }

  function metricsNote(run, it, keys) {
    const curves = loaded[run.id].curves;
    const parts = [];
    keys.forEach(key => {
      const c = curves[key];
      if (!c) return;
      const i = c[0].indexOf(it);
      if (i < 0 || c[1][i] === null) return;
      let v = c[1][i];
      if (key === 'modes_covered' && run.modes_total) v = `${v}/${run.modes_total}`;
      else if (typeof v === 'number' && !Number.isInteger(v)) v = v.toPrecision(3);
      parts.push(`${NAMES[key] || key} ${v}`);
    });
    return parts.join(' · ');
  }

  function layoutPanels() {
    const box = document.getElementById('panels');
    const keys = state.blink ? ['blink'] : state.shown.map(String);
    [...box.children].forEach(el => { if (!keys.includes(el.dataset.key)) el.remove(); });
    keys.forEach(key => {
      if (!panels[key]) panels[key] = makePanel(key);
      box.appendChild(panels[key]);
    });
  }

  function drawAll() {
    const it = axis[state.idx];
    if (it === undefined) return;
    if (state.blink) {
      const run = runs[state.blinkSide ? state.blinkB : state.blinkA];
      drawPanel(panels.blink, run, it);
    } else {
      state.shown.forEach(id => drawPanel(panels[String(id)], runs[id], it));
    }
  }

  function firstPaint() {
    if (state.painted) return;
    const els = [...document.querySelectorAll('#panels .panel')];
    if (els.every(el => el.dataset.state && el.dataset.state !== 'loading')) {
      state.painted = true;
      window.GM_FIRST_PAINT_MS = performance.now();
      document.body.dataset.painted = '1';
    }
  }

  // ----- the time axis ---------------------------------------------------------------------------
  function setIndex(i, fromHash) {
    if (!axis.length) return;
    state.idx = Math.max(0, Math.min(axis.length - 1, i));
    const it = axis[state.idx];
    document.getElementById('scrubber').value = String(state.idx);
    document.getElementById('iteration').textContent = `iteration ${it.toLocaleString('en')} (${state.idx + 1}/${axis.length})`;
    document.body.dataset.iteration = String(it);
    if (!fromHash) writeHash();
    drawAll();
    moveCursors();
  }

  function nearestIndex(it) {
    let best = 0;
    axis.forEach((a, i) => { if (Math.abs(a - it) < Math.abs(axis[best] - it)) best = i; });
    return best;
  }

  function play(on) {
    state.playing = on;
    const button = document.getElementById('play');
    button.innerHTML = on ? '&#10074;&#10074; pause' : '&#9654; play';
    button.classList.toggle('on', on);
    clearTimeout(timer);
    if (on) {
      if (state.idx >= axis.length - 1) setIndex(0);
      const tick = () => {
        if (!state.playing) return;
        if (state.idx >= axis.length - 1) { play(false); return; }
        setIndex(state.idx + 1);
        timer = setTimeout(tick, 1000 / (BASE_FPS * state.speed));
      };
      timer = setTimeout(tick, 1000 / (BASE_FPS * state.speed));
    }
  }

  function setBlink(on) {
    state.blink = on && runs.length > 1;
    document.getElementById('blink').classList.toggle('on', state.blink);
    clearInterval(blinkTimer);
    if (state.blink) {
      blinkTimer = setInterval(() => { state.blinkSide = 1 - state.blinkSide; drawAll(); }, 700);
    }
    layoutPanels(); writeHash(); drawAll(); drawCurves();
  }

  // ----- the URL keeps the position: #it=10000&runs=0,2&blink=0,1 -------------------------------
  function writeHash() {
    const parts = ['it=' + axis[state.idx]];
    if (runs.length > 1) parts.push('runs=' + state.shown.join(','));
    if (state.blink) parts.push(`blink=${state.blinkA},${state.blinkB}`);
    history.replaceState(null, '', '#' + parts.join('&'));
  }

  function readHash() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ''));
    if (params.has('runs')) {
      const ids = params.get('runs').split(',').map(Number).filter(i => Number.isInteger(i) && runs[i]);
      if (ids.length) state.shown = [...new Set(ids)].slice(0, INDEX.max_shown);
    }
    const [a, b] = (params.get('blink') || '').split(',').map(Number);
    state.blink = Boolean(params.has('blink') && runs[a] && runs[b]);
    if (state.blink) { state.blinkA = a; state.blinkB = b; }
    const it = Number(params.get('it'));
    return params.has('it') && Number.isFinite(it) ? nearestIndex(it) : null;
  }

  // ----- curves ------------------------------------------------------------------------------------
  const charts = [];
  const curveWaits = new Set();
  const X = {lo: 0, hi: 1};
  function xOf(it, width) { return 34 + (Math.log10(Math.max(it, 1)) - X.lo) / (X.hi - X.lo || 1) * (width - 40); }

  let curvesQueued = false;
  function drawCurves() {
    // many runs arrive one after another: draw the charts once per frame, not once per run
    if (curvesQueued) return;
    curvesQueued = true;
    setTimeout(() => { curvesQueued = false; renderCurves(); }, 0);
  }

  function renderCurves() {
    const box = document.getElementById('curves');
    const shown = state.blink ? [state.blinkA, state.blinkB] : state.shown;
    const ready = shown.filter(id => loaded[id]);
    // redraw once when each missing run arrives (one wait per run, however often this is called)
    shown.filter(id => !loaded[id] && !runs[id].error && !runs[id].loadError && !curveWaits.has(id)).forEach(id => {
      curveWaits.add(id);
      withRun(runs[id], () => { curveWaits.delete(id); drawCurves(); });
    });
    box.innerHTML = '';
    charts.length = 0;
    if (!axis.length) return;
    X.lo = Math.log10(Math.max(axis[0], 1)); X.hi = Math.log10(Math.max(axis[axis.length - 1], 1));
    const keys = [];
    ready.forEach(id => Object.keys(loaded[id].curves).forEach(k => { if (!keys.includes(k)) keys.push(k); }));
    keys.sort((a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99) || a.localeCompare(b));
    const width = 250, height = 110;
    keys.forEach(key => {
      const el = document.createElement('div');
      el.className = 'chart'; el.dataset.metric = key;
      el.innerHTML = `<div class="ctitle"></div><canvas></canvas><div class="cursor"></div>`;
      const title = el.querySelector('.ctitle');
      title.textContent = NAMES[key] || key;
      if (BETTER[key]) title.title = BETTER[key];
      box.appendChild(el);
      const canvas = el.querySelector('canvas');
      const ctx = setupCanvas(canvas, width, height);
      const series = ready.map(id => ({run: runs[id], c: loaded[id].curves[key]})).filter(s => s.c);
      const values = series.flatMap(s => s.c[1].filter(v => v !== null));
      let lo = Math.min(...values), hi = Math.max(...values);
      const log = lo > 0 && hi / lo > 1e3;
      const f = v => log ? Math.log10(v) : v;
      lo = f(lo); hi = f(hi);
      if (hi === lo) { hi += 0.5; lo -= 0.5; }
      const y = v => 4 + (1 - (f(v) - lo) / (hi - lo)) * (height - 20);
      ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, width, height);
      ctx.strokeStyle = '#ccc'; ctx.strokeRect(34, 4, width - 40, height - 20);
      ctx.fillStyle = '#444'; ctx.font = '9px sans-serif'; ctx.textAlign = 'right';
      const fmt = v => { const a = Math.abs(v); return a >= 1e4 || (a < 1e-2 && a > 0) ? v.toExponential(0) : +v.toPrecision(3) + ''; };
      ctx.fillText(fmt(log ? Math.pow(10, hi) : hi), 32, 10); ctx.fillText(fmt(log ? Math.pow(10, lo) : lo), 32, height - 16);
      ctx.textAlign = 'center';
      for (let d = Math.ceil(X.lo); d <= X.hi; d++) ctx.fillText(d >= 3 ? `${Math.pow(10, d - 3)}k` : String(Math.pow(10, d)), xOf(Math.pow(10, d), width), height - 4);
      series.forEach(s => {
        ctx.strokeStyle = s.run.colour; ctx.lineWidth = 1.3; ctx.beginPath();
        let pen = false;
        s.c[0].forEach((it, i) => {
          const v = s.c[1][i];
          if (v === null || (log && v <= 0)) { pen = false; return; }
          const px = xOf(it, width), py = y(v);
          if (pen) ctx.lineTo(px, py); else ctx.moveTo(px, py);
          pen = true;
        });
        ctx.stroke();
        (s.run.events || []).forEach(e => {
          ctx.fillStyle = eventColour(e.event);
          ctx.fillRect(xOf(e.iteration, width) - 1.5, height - 17, 3, 5);
        });
      });
      const cursor = el.querySelector('.cursor');
      cursor.style.top = (canvas.offsetTop + 4) + 'px'; cursor.style.height = (height - 20) + 'px';
      const hover = ev => {
        const r = canvas.getBoundingClientRect(), x = ev.clientX - r.left;
        const it = Math.pow(10, X.lo + (x - 34) / (width - 40) * (X.hi - X.lo));
        const i = nearestIndex(it);
        if (i !== state.idx) { play(false); setIndex(i); }
      };
      canvas.addEventListener('mousemove', hover);
      canvas.addEventListener('click', hover);
      charts.push({el, canvas, cursor, width});
    });
    addCalibrationChart(box, ready);
    if (ready.length) {
      const legend = document.createElement('div');
      legend.className = 'legend';
      legend.style.width = '100%';
      ready.forEach(id => {
        const s = document.createElement('span');
        s.innerHTML = `<span class="swatch" style="background:${runs[id].colour}"></span> `;
        s.append(runs[id].label);
        legend.appendChild(s);
      });
      box.prepend(legend);
    }
    moveCursors();
    if (!curveWaits.size) document.body.dataset.curves = '1';
  }

  function moveCursors() {
    const it = axis[state.idx];
    charts.forEach(c => {
      c.cursor.style.left = (c.canvas.offsetLeft + xOf(it, c.width)) + 'px';
      c.el.dataset.cursorIteration = String(it);
    });
    drawCalibration();
  }

  // The calibration probe (gan_mixup.probes): mean σ(D) along real-fake segments, from λ = 0 (the
  // fakes) to λ = 1 (the reals), at the shown iteration (each run's last probed snapshot at or before
  // it), beside the dashed line λ that mixup's target draws. Its gap and end slopes are curves above.
  let calibration = null;
  function addCalibrationChart(box, ready) {
    calibration = null;
    const ids = ready.filter(id => loaded[id].calibration);
    if (!ids.length) return;
    const el = document.createElement('div');
    el.className = 'chart'; el.dataset.metric = 'calibration_curve';
    el.innerHTML = '<div class="ctitle"></div><canvas></canvas>';
    const title = el.querySelector('.ctitle');
    title.textContent = 'σ(D) from fake (λ = 0) to real (λ = 1), at this iteration';
    title.title = "the calibration probe; dashed: the line λ, mixup's target";
    box.appendChild(el);
    calibration = {el, canvas: el.querySelector('canvas'), ids, width: 250, height: 110};
  }

  function drawCalibration() {
    if (!calibration) return;
    const {el, canvas, ids, width, height} = calibration;
    const ctx = setupCanvas(canvas, width, height);
    const it = axis[state.idx];
    const px = l => 34 + l * (width - 40), py = v => 4 + (1 - v) * (height - 20);
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, width, height);
    ctx.strokeStyle = '#ccc'; ctx.strokeRect(34, 4, width - 40, height - 20);
    ctx.fillStyle = '#444'; ctx.font = '9px sans-serif'; ctx.textAlign = 'right';
    ctx.fillText('1', 32, 10); ctx.fillText('0', 32, height - 16);
    ctx.textAlign = 'center';
    [0, 0.5, 1].forEach(l => ctx.fillText(`λ=${l}`, px(l), height - 4));
    ctx.setLineDash([3, 3]); ctx.strokeStyle = '#999'; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(px(0), py(0)); ctx.lineTo(px(1), py(1)); ctx.stroke();
    ctx.setLineDash([]);
    const shown = [];
    ids.forEach(id => {
      const cal = loaded[id].calibration;
      let k = -1;
      cal.iterations.forEach((i, j) => { if (i <= it) k = j; });
      if (k < 0) return;
      shown.push(cal.iterations[k]);
      ctx.strokeStyle = runs[id].colour; ctx.lineWidth = 1.3; ctx.beginPath();
      let pen = false;
      cal.sigma[k].forEach((v, j) => {
        if (v === null) { pen = false; return; }
        if (pen) ctx.lineTo(px(cal.lambdas[j]), py(v)); else ctx.moveTo(px(cal.lambdas[j]), py(v));
        pen = true;
      });
      ctx.stroke();
    });
    el.dataset.cursorIteration = String(it);
    el.dataset.shownIterations = shown.join(',');
  }

  function eventColour(event) {
    return {diverged: '#d62728', collapsed: '#9467bd', covered: '#2ca02c', skipped: '#ff7f0e'}[event] || '#555';
  }

  function drawEvents() {
    const box = document.getElementById('events');
    box.innerHTML = '';
    const scrubber = document.getElementById('scrubber');
    const shown = state.blink ? [state.blinkA, state.blinkB] : state.shown;
    const offset = scrubber.offsetLeft - box.offsetLeft + 8, span = scrubber.offsetWidth - 16;
    shown.forEach(id => (runs[id].events || []).forEach(e => {
      const i = nearestIndex(e.iteration);
      const mark = document.createElement('span');
      mark.className = 'event ' + e.event;
      mark.style.left = (offset + (axis.length > 1 ? i / (axis.length - 1) : 0) * span) + 'px';
      mark.title = `${runs[id].label}, iteration ${e.iteration.toLocaleString('en')}: ${e.text}`;
      mark.style.outline = `2px solid ${runs[id].colour}`;
      mark.addEventListener('click', () => { play(false); setIndex(i); });
      box.appendChild(mark);
    }));
  }

  // ----- choosing runs (a sweep's members) and its tables ----------------------------------------
  function setShown(ids) {
    state.shown = [...new Set(ids)].slice(0, INDEX.max_shown);
    syncChooser(); layoutPanels(); writeHash(); drawAll(); drawCurves(); drawEvents();
  }

  function buildChooser() {
    const box = document.getElementById('chooser');
    if (runs.length < 2) return;
    const filters = INDEX.fields.map(field => {
      const values = [...new Set(runs.map(r => r.group[field]).filter(v => v !== undefined))];
      const set = document.createElement('fieldset');
      set.innerHTML = `<legend>${field}</legend>`;
      values.forEach(v => {
        const label = document.createElement('label');
        label.innerHTML = `<input type="checkbox" checked data-field="${field}"> `;
        label.querySelector('input').value = v;
        label.append(v);
        set.appendChild(label);
      });
      return set;
    });
    filters.forEach(f => box.appendChild(f));
    box.addEventListener('change', ev => {
      if (ev.target.dataset.field) {
        const allowed = {};
        box.querySelectorAll('input[data-field]').forEach(i => { (allowed[i.dataset.field] = allowed[i.dataset.field] || []); if (i.checked) allowed[i.dataset.field].push(i.value); });
        setShown(runs.filter(r => Object.entries(allowed).every(([f, vs]) => r.group[f] === undefined || vs.includes(r.group[f]))).map(r => r.id));
      } else if (ev.target.dataset.run !== undefined) {
        const ids = [...box.querySelectorAll('input[data-run]')].filter(i => i.checked).map(i => Number(i.dataset.run));
        setShown(ids);
      }
    });
    const list = document.createElement('details');
    list.open = runs.length <= 16;
    list.innerHTML = `<summary>runs (up to ${INDEX.max_shown} side by side)</summary>`;
    runs.forEach(r => {
      const label = document.createElement('label');
      label.innerHTML = `<input type="checkbox" data-run="${r.id}"> <span class="swatch" style="background:${r.colour}"></span> `;
      label.append(r.label + (r.status ? ` (${r.status})` : ''));
      list.appendChild(label);
    });
    const note = document.createElement('div');
    note.className = 'note';
    box.appendChild(list); box.appendChild(note);
  }

  function syncChooser() {
    const box = document.getElementById('chooser');
    box.querySelectorAll('input[data-run]').forEach(i => { i.checked = state.shown.includes(Number(i.dataset.run)); });
    const note = box.querySelector('.note');
    if (note) note.textContent = `showing ${state.shown.length} of ${runs.length} runs`;
    document.querySelectorAll('#tables tr[data-runs]').forEach(tr => {
      tr.classList.toggle('selected', tr.dataset.runs === state.shown.join(','));
    });
  }

  function buildTables() {
    const box = document.getElementById('tables');
    (INDEX.tables || []).forEach(t => {
      const h = document.createElement('h3'); h.textContent = t.title; box.appendChild(h);
      const table = document.createElement('table');
      const head = table.createTHead().insertRow();
      t.header.forEach(c => { const th = document.createElement('th'); th.textContent = c.replace(/\*/g, ''); head.appendChild(th); });
      const body = table.createTBody();
      t.rows.forEach((row, i) => {
        const tr = body.insertRow();
        row.forEach(c => { tr.insertCell().textContent = c.replace(/\*/g, ''); });
        if (t.runs[i].length) {
          tr.className = 'link'; tr.dataset.runs = t.runs[i].slice(0, INDEX.max_shown).join(',');
          tr.title = `show its ${t.runs[i].length} run(s)`;
          tr.addEventListener('click', () => setShown(t.runs[i]));
        }
      });
      box.appendChild(table);
    });
  }

  // ----- enlarging one image sample across runs and iterations -----------------------------------
  function openZoom(el, ev) {
    const run = runs[Number(el.dataset.run)];
    if (run.modality !== 'images' || !loaded[run.id] || !el.zoomScale) return;
    const ref = loaded[run.id].reference, r = ev.target.getBoundingClientRect();
    const step = (ref.height + ref.padding) * el.zoomScale, stepX = (ref.width + ref.padding) * el.zoomScale;
    const col = Math.floor((ev.clientX - r.left) / stepX), row = Math.floor((ev.clientY - r.top) / step);
    const sample = row * ref.cols + col;
    if (col >= ref.cols || sample >= ref.count) return;
    showZoom(sample);
  }

  function showZoom(sample) {
    const box = document.getElementById('zoom');
    const ids = (state.blink ? [state.blinkA, state.blinkB] : state.shown).filter(id => loaded[id] && runs[id].modality === 'images');
    const picks = [...new Set([0, 0.2, 0.4, 0.6, 0.8, 1].map(f => Math.round(f * (axis.length - 1))).concat([state.idx]))].sort((a, b) => a - b);
    const cell = 72, label = 170;
    box.innerHTML = `<div class="box"><b>sample ${sample + 1}</b> of the fixed noise batch (same z in every run) · click or Esc to close<br><canvas></canvas></div>`;
    const canvas = box.querySelector('canvas');
    const ctx = setupCanvas(canvas, label + picks.length * (cell + 6), 18 + ids.length * (cell + 6));
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.font = '11px sans-serif'; ctx.fillStyle = '#000';
    picks.forEach((p, j) => { ctx.font = (p === state.idx ? 'bold ' : '') + '11px sans-serif'; ctx.fillText(`it ${axis[p].toLocaleString('en')}`, label + j * (cell + 6), 12); });
    ids.forEach((id, i) => {
      const run = runs[id], ref = loaded[id].reference;
      ctx.fillStyle = run.colour; ctx.font = '11px sans-serif'; ctx.fillText(run.label.slice(0, 26), 0, 18 + i * (cell + 6) + cell / 2);
      picks.forEach((p, j) => {
        const frame = decoded(run, axis[p]);
        const x = label + j * (cell + 6), y = 18 + i * (cell + 6);
        if (!frame || frame.error) { ctx.fillStyle = '#eee'; ctx.fillRect(x, y, cell, cell); return; }
        imageReady(frame.cache.image, () => {
          const sx = ref.padding + (sample % ref.cols) * (ref.width + ref.padding), sy = ref.padding + Math.floor(sample / ref.cols) * (ref.height + ref.padding);
          ctx.imageSmoothingEnabled = false;
          ctx.drawImage(frame.cache.image, sx, sy, ref.width, ref.height, x, y, cell, cell);
        });
      });
    });
    box.hidden = false;
    box.onclick = () => { box.hidden = true; };
  }

  // ----- start -------------------------------------------------------------------------------------
  function start() {
    document.getElementById('title').textContent = INDEX.title;
    document.title = INDEX.title;
    state.shown = (INDEX.shown || runs.map(r => r.id)).slice(0, INDEX.max_shown);
    const fromHash = readHash();
    const scrubber = document.getElementById('scrubber');
    scrubber.max = String(Math.max(0, axis.length - 1));
    scrubber.addEventListener('input', () => { play(false); setIndex(Number(scrubber.value)); });
    document.getElementById('play').addEventListener('click', () => play(!state.playing));
    document.getElementById('prev').addEventListener('click', () => { play(false); setIndex(state.idx - 1); });
    document.getElementById('next').addEventListener('click', () => { play(false); setIndex(state.idx + 1); });
    document.getElementById('speed').addEventListener('change', ev => { state.speed = Number(ev.target.value); if (state.playing) play(true); });
    ['blinkA', 'blinkB'].forEach(name => {
      const select = document.getElementById(name);
      runs.forEach(r => { const o = document.createElement('option'); o.value = r.id; o.textContent = r.label; select.appendChild(o); });
      select.value = String(state[name]);
      select.addEventListener('change', () => { state[name] = Number(select.value); writeHash(); drawAll(); drawCurves(); drawEvents(); });
    });
    document.getElementById('blink').addEventListener('click', () => setBlink(!state.blink));
    const field = document.getElementById('field');
    field.addEventListener('change', () => { state.field = field.checked; drawAll(); });
    if (!runs.some(r => r.modality === 'toy')) field.parentElement.hidden = true;
    if (runs.length < 2) document.querySelector('.blink-controls').hidden = true;
    document.addEventListener('keydown', ev => {
      if (ev.target.tagName === 'INPUT' && ev.target.type !== 'range' || ev.target.tagName === 'SELECT') return;
      if (ev.key === 'ArrowRight') { ev.preventDefault(); play(false); setIndex(state.idx + 1); }
      else if (ev.key === 'ArrowLeft') { ev.preventDefault(); play(false); setIndex(state.idx - 1); }
      else if (ev.key === ' ') { ev.preventDefault(); play(!state.playing); }
      else if (ev.key === 'b') setBlink(!state.blink);
      else if (ev.key === 'Escape') document.getElementById('zoom').hidden = true;
    });
    window.addEventListener('hashchange', () => {
      const i = readHash();
      if (i !== null) state.idx = i;
      setBlink(state.blink);  // lays the panels out again and draws them
      syncChooser();
      setIndex(state.idx, true);
    });
    window.addEventListener('resize', drawEvents);
    buildChooser(); buildTables(); syncChooser();
    if (!axis.length) {
      layoutPanels(); drawAll();
      state.shown.forEach(id => drawPanel(panels[String(id)], runs[id], 0));
    }
    layoutPanels();
    if (state.blink) setBlink(true);
    setIndex(fromHash === null ? axis.length - 1 : fromHash, fromHash !== null);
    writeHash();
    drawCurves(); drawEvents();
  }
  start();
}());
