// The watch page player: LL-HLS through hls.js where MSE exists, native HLS on iPhone/Safari
// without MSE, HTTP-FLV through mpegts.js on ?mode=flv. State for tests: window.onairPlayer.
/* global window, document, location, URLSearchParams, setTimeout, clearTimeout, setInterval, performance, fetch, Hls, mpegts */
'use strict';

(() => {
  /** Time between two stats refreshes. */
  const STATS_INTERVAL_MS = 1000;
  /** Bytes received over this window give the measured bitrate. */
  const BITRATE_WINDOW_MS = 5000;
  /** Retry delays after a fatal error or the end of the stream. */
  const RETRY_MIN_MS = 2000;
  const RETRY_MAX_MS = 10000;
  /** Entries kept in errors / warnings (oldest dropped). */
  const MAX_LOG_ENTRIES = 50;
  const QOE_INTERVAL_MS =
    Number(new URLSearchParams(location.search).get('qoeIntervalMs')) || 10_000;

  const body = document.body;
  const video = /** @type {HTMLVideoElement} */ (document.getElementById('video'));
  const overlay = document.getElementById('overlay');
  const errorBox = document.getElementById('error');
  const stat = (name) => document.getElementById(`stat-${name}`);

  const pageQuery = new URLSearchParams(location.search);
  const requested = pageQuery.get('mode') === 'flv' ? 'flv' : 'hls';
  // A private stream's playback token (`/watch/live/NAME?token=...`) goes to the media URLs;
  // onair signs the HLS parts and segments itself, so nothing else needs it.
  const token = pageQuery.get('token');
  const withToken = (url) =>
    token === null
      ? url
      : `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
  const urls = { hls: withToken(body.dataset.hlsUrl), flv: withToken(body.dataset.flvUrl) };
  /** Seconds of the stream's DVR window (hls.dvrWindowS): a seek bar over it when above 0. */
  const dvrWindowS = Number(body.dataset.dvrWindowS) || 0;
  /** Closer than this to the live edge counts as live. */
  const AT_LIVE_S = 4;

  /** What the page is doing, read by people (the stats line) and tests (window.onairPlayer). */
  const state = {
    streamPath: body.dataset.streamPath,
    /** 'hls' or 'flv': the protocol asked for. */
    mode: requested,
    /** 'hls.js', 'native' or 'mpegts.js' once chosen. */
    engine: null,
    url: urls[requested],
    /** 'loading', 'playing', 'waiting', 'paused', 'retrying', 'ended' or 'failed'. */
    status: 'loading',
    errors: [],
    warnings: [],
    latencyS: null,
    /** Date.now() minus the EXT-X-PROGRAM-DATE-TIME of the picture shown (hls.js), in s. */
    programDateLatencyS: null,
    /** Codec strings of the SourceBuffers, e.g. ['avc1.64001e', 'mp4a.40.2'] (hls.js). */
    codecs: [],
    bitrateKbps: null,
    width: 0,
    height: 0,
    currentTimeS: 0,
    bufferS: null,
    droppedFrames: 0,
    retries: 0,
    /** With a DVR window: seconds behind the live edge, and whether the page is at live. */
    dvr: dvrWindowS > 0 ? { windowS: dvrWindowS, behindS: 0, atLive: true } : null,
    /** Quality of experience, sent to onair every QOE_INTERVAL_MS (POST /api/v1/qoe). */
    qoe: {
      session: Math.random().toString(36).slice(2, 12) + Date.now().toString(36),
      startupMs: null,
      rebufferCount: 0,
      rebufferMs: 0,
      playedMs: 0,
      beaconsSent: 0,
    },
  };
  window.onairPlayer = state;

  /** The running engine: { stop(), latencyS(), bitrateKbps() }. */
  let engine = null;
  let retryTimer = null;
  let retryDelayMs = RETRY_MIN_MS;
  /** { atMs, bytes } samples of media bytes received, for the measured bitrate. */
  let byteSamples = [];

  document.getElementById(`mode-${requested}`).setAttribute('aria-current', 'page');

  function push(list, message) {
    list.push(message);
    if (list.length > MAX_LOG_ENTRIES) list.shift();
  }

  /** Records an error, shows it, and returns it. */
  function reportError(message) {
    push(state.errors, message);
    errorBox.textContent = message;
    errorBox.classList.remove('recovered');
    errorBox.hidden = false;
    return message;
  }

  function warn(message) {
    push(state.warnings, message);
  }

  function showOverlay(text) {
    overlay.textContent = text;
    overlay.hidden = text === '';
  }

  function countBytes(bytes) {
    byteSamples.push({ atMs: Date.now(), bytes });
  }

  function measuredKbps() {
    const now = Date.now();
    byteSamples = byteSamples.filter((s) => now - s.atMs <= BITRATE_WINDOW_MS);
    if (byteSamples.length < 2) return null;
    const spanMs = Math.max(1000, now - byteSamples[0].atMs);
    const bytes = byteSamples.reduce((sum, s) => sum + s.bytes, 0);
    return (bytes * 8) / spanMs;
  }

  function bufferAheadS() {
    const ranges = video.buffered;
    if (ranges.length === 0) return null;
    return Math.max(0, ranges.end(ranges.length - 1) - video.currentTime);
  }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = src;
      script.onload = () => resolve();
      script.onerror = () => reject(new Error(`cannot load ${src}`));
      document.head.appendChild(script);
    });
  }

  function play() {
    const started = video.play();
    if (started && typeof started.catch === 'function') {
      started.catch((error) => {
        if (error && error.name === 'NotAllowedError') {
          showOverlay('Press play to start (the browser blocked autoplay)');
          warn('autoplay blocked');
        }
      });
    }
  }

  /** Stops the engine and starts it again later, backing off up to RETRY_MAX_MS. */
  function retry(reason) {
    stopEngine();
    state.status = 'retrying';
    state.retries += 1;
    showOverlay(`${reason}. Retrying in ${Math.round(retryDelayMs / 1000)} s...`);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(start, retryDelayMs);
    retryDelayMs = Math.min(RETRY_MAX_MS, retryDelayMs * 2);
  }

  /** Stops the running engine; later, since this may run inside one of the player's own events. */
  function stopEngine() {
    if (engine === null) return;
    const running = engine;
    const name = state.engine;
    engine = null;
    setTimeout(() => {
      try {
        running.stop();
      } catch (error) {
        warn(`stopping ${name}: ${String(error)}`);
      }
    }, 0);
  }

  function fail(message) {
    stopEngine();
    state.status = 'failed';
    reportError(message);
    showOverlay(message);
  }

  // --- LL-HLS through hls.js ------------------------------------------------------------------

  function startHlsJs() {
    state.engine = 'hls.js';
    const hls = new Hls({
      lowLatencyMode: true,
      liveDurationInfinity: true,
      backBufferLength: 30,
      // Catch up by playing slightly faster when behind the target latency.
      maxLiveSyncPlaybackRate: 1.2,
    });
    hls.on(Hls.Events.ERROR, (_event, data) => {
      const message = `hls.js: ${data.type} ${data.details}${data.response ? ` (HTTP ${data.response.code})` : ''}`;
      if (!data.fatal) {
        warn(message);
        return;
      }
      reportError(`${message} (fatal)`);
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
        return;
      }
      const notLive = data.response && data.response.code === 404;
      retry(notLive ? 'The stream is not live' : 'Playback failed');
    });
    // Count loaded bytes from the stats: the payload itself is handed (detached) to the worker.
    hls.on(Hls.Events.FRAG_LOADED, (_event, data) => {
      const stats = (data.part || data.frag).stats;
      if (stats && stats.loaded > 0) countBytes(stats.loaded);
    });
    // One SourceBuffer per track, or one 'audiovideo' buffer for an init segment with both.
    hls.on(Hls.Events.BUFFER_CODECS, (_event, data) => {
      state.codecs = [data.video, data.audio, data.audiovideo]
        .filter((track) => track && track.codec)
        .flatMap((track) => track.codec.split(','));
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => play());
    hls.loadSource(urls.hls);
    hls.attachMedia(video);
    return {
      stop: () => hls.destroy(),
      // hls.js knows where live is in the playlist (its target latency behind the edge).
      livePosition: () => hls.liveSyncPosition,
      latencyS: () => (hls.latency > 0 ? hls.latency : latencyFromDate(hls.playingDate)),
      programDateLatencyS: () => latencyFromDate(hls.playingDate),
      bitrateKbps: () => {
        const measured = measuredKbps();
        if (measured !== null) return measured;
        const level = hls.levels[hls.currentLevel];
        return level && level.bitrate > 0 ? level.bitrate / 1000 : null;
      },
    };
  }

  // --- Native HLS (iPhone, Safari without MSE) ---------------------------------------------------

  function startNativeHls() {
    state.engine = 'native';
    let decodedBytes = 0;
    const onError = () => {
      const error = video.error;
      reportError(`video: ${error ? `code ${error.code} ${error.message}` : 'error'}`);
      retry('Playback failed');
    };
    video.addEventListener('error', onError);
    video.src = urls.hls;
    play();
    return {
      stop: () => {
        video.removeEventListener('error', onError);
        video.removeAttribute('src');
        video.load();
      },
      latencyS: () => {
        const start = typeof video.getStartDate === 'function' ? video.getStartDate() : null;
        if (start && !Number.isNaN(start.getTime()))
          return latencyFromDate(new Date(start.getTime() + video.currentTime * 1000));
        const seekable = video.seekable;
        return seekable.length > 0 ? seekable.end(seekable.length - 1) - video.currentTime : null;
      },
      // WebKit counts decoded bytes: a fair estimate of the stream's bitrate.
      bitrateKbps: () => {
        if (typeof video.webkitVideoDecodedByteCount !== 'number') return null;
        const total = video.webkitVideoDecodedByteCount + (video.webkitAudioDecodedByteCount || 0);
        if (decodedBytes > 0) countBytes(total - decodedBytes);
        decodedBytes = total;
        return measuredKbps();
      },
    };
  }

  function latencyFromDate(date) {
    return date ? (Date.now() - date.getTime()) / 1000 : null;
  }

  // --- HTTP-FLV through mpegts.js ----------------------------------------------------------------

  function startMpegts() {
    state.engine = 'mpegts.js';
    mpegts.LoggingControl.applyConfig({
      enableVerbose: false,
      enableDebug: false,
      enableInfo: false,
    });
    const player = mpegts.createPlayer(
      { type: 'flv', isLive: true, url: urls.flv },
      {
        enableStashBuffer: false,
        lazyLoad: false,
        // Keep memory bounded on long sessions.
        autoCleanupSourceBuffer: true,
        autoCleanupMaxBackwardDuration: 60,
        autoCleanupMinBackwardDuration: 30,
        // Speed up a little when behind, jump when far behind (the GOP cache starts viewers one GOP late).
        liveSync: true,
        liveSyncMaxLatency: 1.5,
        liveSyncTargetLatency: 0.8,
        liveBufferLatencyChasing: true,
        liveBufferLatencyMaxLatency: 4,
        liveBufferLatencyMinRemain: 0.8,
      },
    );
    let speedKBps = null;
    player.on(mpegts.Events.ERROR, (type, detail, info) => {
      const code = info && info.code ? ` (${info.code})` : '';
      const message = reportError(`mpegts.js: ${type} ${detail}${code}`);
      retry(info && info.code === 404 ? 'The stream is not live' : message);
    });
    player.on(mpegts.Events.LOADING_COMPLETE, () => {
      warn('the HTTP-FLV response ended');
      state.status = 'ended';
      retry('The stream ended');
    });
    player.on(mpegts.Events.STATISTICS_INFO, (info) => {
      if (typeof info.speed === 'number') speedKBps = info.speed;
    });
    player.attachMediaElement(video);
    player.load();
    play();
    return {
      stop: () => {
        player.pause();
        player.unload();
        player.detachMediaElement();
        player.destroy();
      },
      latencyS: bufferAheadS,
      // mpegts.js reports the download speed in KiB/s; for a live stream that is its bitrate.
      bitrateKbps: () => (speedKBps === null ? null : (speedKBps * 1024 * 8) / 1000),
    };
  }

  // --- Choosing and running ----------------------------------------------------------------------

  function hasMediaSource() {
    return 'MediaSource' in window || 'ManagedMediaSource' in window;
  }

  async function start() {
    retryTimer = null;
    byteSamples = [];
    state.status = 'loading';
    showOverlay('Connecting...');
    try {
      if (requested === 'flv') {
        if (!hasMediaSource()) {
          fail('HTTP-FLV needs Media Source Extensions, which this browser lacks: use LL-HLS');
          return;
        }
        await loadScript('/assets/mpegts.js');
        engine = startMpegts();
        return;
      }
      if (hasMediaSource()) {
        await loadScript('/assets/hls.min.js');
        if (Hls.isSupported()) {
          engine = startHlsJs();
          return;
        }
      }
      if (video.canPlayType('application/vnd.apple.mpegurl') !== '') {
        engine = startNativeHls();
        return;
      }
      fail('This browser can play neither HLS nor Media Source Extensions');
    } catch (error) {
      reportError(`player: ${String(error && error.message ? error.message : error)}`);
      retry('The player could not start');
    }
  }

  function formatNumber(value, digits, unit) {
    return value === null || !Number.isFinite(value) ? '-' : `${value.toFixed(digits)} ${unit}`;
  }

  function updateStats() {
    if (engine !== null) {
      state.latencyS = engine.latencyS();
      state.programDateLatencyS = engine.programDateLatencyS ? engine.programDateLatencyS() : null;
      state.bitrateKbps = engine.bitrateKbps();
    }
    state.width = video.videoWidth;
    state.height = video.videoHeight;
    state.currentTimeS = video.currentTime;
    state.bufferS = bufferAheadS();
    if (typeof video.getVideoPlaybackQuality === 'function')
      state.droppedFrames = video.getVideoPlaybackQuality().droppedVideoFrames;
    const engineName = state.engine === null ? '' : ` (${state.engine})`;
    stat('mode').textContent = `${state.mode === 'flv' ? 'HTTP-FLV' : 'LL-HLS'}${engineName}`;
    stat('latency').textContent = formatNumber(state.latencyS, 2, 's');
    stat('bitrate').textContent = formatNumber(state.bitrateKbps, 0, 'kbps');
    stat('resolution').textContent = state.width > 0 ? `${state.width}×${state.height}` : '-';
    stat('buffer').textContent = formatNumber(state.bufferS, 2, 's');
    stat('state').textContent = state.status;
  }

  // QoE: startup (page start to first picture), stalls after it, time played.
  const pageStartMs = performance.now();
  let stallStartMs = null;
  const sent = { rebufferCount: 0, rebufferMs: 0, playedMs: 0, startup: false, errors: 0 };
  let playingSinceMs = null;
  const qoe = state.qoe;
  function countPlayed(nowMs) {
    if (playingSinceMs !== null) qoe.playedMs += nowMs - playingSinceMs;
    playingSinceMs = null;
  }
  function sendBeacon(final) {
    const nowMs = performance.now();
    if (playingSinceMs !== null) {
      countPlayed(nowMs);
      playingSinceMs = nowMs;
    }
    if (qoe.startupMs === null && qoe.playedMs === 0) return; // nothing played yet
    // Counters go as deltas since the previous beacon, so the server can sum them; the
    // startup time goes once.
    const rebufferMs = qoe.rebufferMs + (stallStartMs === null ? 0 : nowMs - stallStartMs);
    const beacon = {
      stream: state.streamPath,
      session: qoe.session,
      rebufferCount: qoe.rebufferCount - sent.rebufferCount,
      rebufferMs: Math.max(0, Math.round(rebufferMs - sent.rebufferMs)),
      playedMs: Math.max(0, Math.round(qoe.playedMs - sent.playedMs)),
      ...(qoe.startupMs === null || sent.startup ? {} : { startupMs: Math.round(qoe.startupMs) }),
      ...(state.latencyS === null ? {} : { latencyS: Math.round(state.latencyS * 100) / 100 }),
      ...(state.bitrateKbps === null ? {} : { bitrateKbps: Math.round(state.bitrateKbps) }),
      ...(state.width > 0 ? { width: state.width, height: state.height } : {}),
      ...(state.errors.length > sent.errors
        ? {
            errors: state.errors
              .slice(sent.errors)
              .slice(-3)
              .map((e) => e.slice(0, 200)),
          }
        : {}),
    };
    sent.rebufferCount = qoe.rebufferCount;
    sent.rebufferMs = rebufferMs;
    sent.playedMs = qoe.playedMs;
    sent.startup = qoe.startupMs !== null;
    sent.errors = state.errors.length;
    qoe.beaconsSent++;
    void fetch('/api/v1/qoe', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(beacon),
      keepalive: final,
    }).catch(() => undefined);
  }
  setInterval(() => {
    sendBeacon(false);
  }, QOE_INTERVAL_MS);
  window.addEventListener('pagehide', () => {
    sendBeacon(true);
  });

  video.addEventListener('playing', () => {
    const nowMs = performance.now();
    if (qoe.startupMs === null) qoe.startupMs = nowMs - pageStartMs;
    if (stallStartMs !== null) {
      qoe.rebufferMs += nowMs - stallStartMs;
      stallStartMs = null;
    }
    playingSinceMs ??= nowMs;
    state.status = 'playing';
    retryDelayMs = RETRY_MIN_MS;
    showOverlay('');
    // The last error stays readable, marked as over.
    if (!errorBox.hidden && !errorBox.classList.contains('recovered')) {
      errorBox.classList.add('recovered');
      errorBox.textContent = `Recovered from: ${errorBox.textContent}`;
    }
  });
  video.addEventListener('waiting', () => {
    if (state.status === 'playing') {
      state.status = 'waiting';
      // A stall after the start: a rebuffer.
      qoe.rebufferCount++;
      stallStartMs = performance.now();
      countPlayed(stallStartMs);
    }
  });
  video.addEventListener('pause', () => {
    if (state.status === 'playing') state.status = 'paused';
    countPlayed(performance.now());
  });
  // --- The DVR bar (a stream with hls.dvrWindowS) ------------------------------------------------

  const dvrBar = document.getElementById('dvr');
  const dvrSeek = /** @type {HTMLInputElement} */ (document.getElementById('dvr-seek'));
  const dvrBehind = document.getElementById('dvr-behind');
  const dvrLive = document.getElementById('dvr-live');
  /** True while the viewer drags the seek bar (the bar is not moved under the pointer). */
  let dvrDragging = false;

  function seekableRange() {
    const ranges = video.seekable;
    if (ranges.length === 0) return null;
    return { start: ranges.start(0), end: ranges.end(ranges.length - 1) };
  }

  function livePosition(range) {
    const position = engine && engine.livePosition ? engine.livePosition() : null;
    return typeof position === 'number' && Number.isFinite(position)
      ? Math.min(position, range.end)
      : Math.max(range.start, range.end - 3);
  }

  function updateDvr() {
    if (state.dvr === null || state.mode !== 'hls') return;
    const range = seekableRange();
    dvrBar.hidden = range === null;
    if (range === null) return;
    const live = livePosition(range);
    const behindS = Math.max(0, live - video.currentTime);
    state.dvr.behindS = behindS;
    state.dvr.atLive = behindS < AT_LIVE_S;
    dvrSeek.min = String(range.start);
    dvrSeek.max = String(range.end);
    if (!dvrDragging) dvrSeek.value = String(video.currentTime);
    dvrBehind.textContent = state.dvr.atLive ? 'live' : `-${formatClock(behindS)}`;
    dvrLive.setAttribute('aria-pressed', String(state.dvr.atLive));
  }

  function formatClock(seconds) {
    const whole = Math.round(seconds);
    const h = Math.floor(whole / 3600);
    const m = Math.floor((whole % 3600) / 60);
    const s = String(whole % 60).padStart(2, '0');
    return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
  }

  if (state.dvr !== null) {
    dvrSeek.addEventListener('input', () => {
      dvrDragging = true;
    });
    dvrSeek.addEventListener('change', () => {
      dvrDragging = false;
      video.currentTime = Number(dvrSeek.value);
      play();
      updateDvr();
    });
    dvrLive.addEventListener('click', () => {
      const range = seekableRange();
      if (range === null) return;
      video.currentTime = livePosition(range);
      play();
      updateDvr();
    });
    video.addEventListener('timeupdate', updateDvr);
  }

  video.addEventListener('loadedmetadata', updateStats);
  video.addEventListener('resize', updateStats);

  setInterval(() => {
    updateStats();
    updateDvr();
  }, STATS_INTERVAL_MS);
  updateStats();
  void start();
})();
