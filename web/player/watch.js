// The watch page player: WebRTC through WHEP on ?mode=webrtc, LL-HLS through hls.js where MSE
// exists, native HLS on iPhone/Safari without MSE, HTTP-FLV through mpegts.js on ?mode=flv
// (its latency held low by latency-chase.js). Without ?mode it tries WebRTC first and falls back
// to LL-HLS. State for tests: window.onairPlayer, and data-mode on <body>.
/* global window, document, Option, location, URL, URLSearchParams, setTimeout, clearTimeout, setInterval, clearInterval, performance, fetch, AbortSignal, RTCPeerConnection, MediaStream, Hls, mpegts */
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

  /** WebRTC must show a picture this soon, or an automatic pick falls back to LL-HLS. */
  const WEBRTC_AUTO_CONNECT_MS = 5000;
  /** The same for ?mode=webrtc, after which the page reports the failure and retries. */
  const WEBRTC_CONNECT_MS = 10_000;
  /** How often the HTTP-FLV latency controller runs. */
  const CHASE_INTERVAL_MS = 250;

  const pageQuery = new URLSearchParams(location.search);
  const MODES = ['webrtc', 'hls', 'flv'];
  /** 'webrtc', 'hls', 'flv', or 'auto' (no ?mode): the lowest latency that works. */
  const requested = MODES.includes(pageQuery.get('mode')) ? pageQuery.get('mode') : 'auto';
  // A private stream's playback token (`/watch/live/NAME?token=...`) goes to the media URLs
  // (and to WHEP as a Bearer); onair signs the HLS parts and segments itself.
  const token = pageQuery.get('token');
  const withToken = (url) =>
    token === null
      ? url
      : `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
  /** Seconds of the stream's DVR window (hls.dvrWindowS): a seek bar over it when above 0. */
  const dvrWindowS = Number(body.dataset.dvrWindowS) || 0;
  const urls = {
    hls: withToken(body.dataset.hlsUrl),
    flv: withToken(body.dataset.flvUrl),
    // The WHEP endpoint sits beside the stream's other URLs: /APP/NAME.flv -> /APP/NAME/whep.
    webrtc: body.dataset.flvUrl.replace(/\.flv$/, '/whep'),
  };
  const hasWebRtc = typeof window.RTCPeerConnection === 'function';
  /**
   * Whether an automatic pick still tries WebRTC: not without RTCPeerConnection, not for a
   * stream with a DVR window (its seek bar needs HLS) or a recording (vod/ID), and not after
   * WebRTC failed for another reason than the stream not being live.
   */
  let autoWebRtc =
    hasWebRtc && dvrWindowS === 0 && !String(body.dataset.streamPath).startsWith('vod/');
  const firstMode = requested === 'auto' ? (autoWebRtc ? 'webrtc' : 'hls') : requested;
  /** Closer than this to the live edge counts as live. */
  const AT_LIVE_S = 4;

  /** What the page is doing, read by people (the stats line) and tests (window.onairPlayer). */
  const state = {
    streamPath: body.dataset.streamPath,
    /** 'webrtc', 'hls' or 'flv': the protocol in use (also <body data-mode>). */
    mode: firstMode,
    /** 'webrtc', 'hls', 'flv' or 'auto': what the page's ?mode asked for. */
    requested,
    /** 'webrtc', 'hls.js', 'native' or 'mpegts.js' once chosen. */
    engine: null,
    url: urls[firstMode],
    /** 'loading', 'playing', 'waiting', 'paused', 'retrying', 'ended' or 'failed'. */
    status: 'loading',
    errors: [],
    warnings: [],
    /**
     * Seconds from the server to the screen as the engine measures it: WebRTC, the jitter
     * buffer's delay plus half the round trip (getStats); hls.js, its latency behind the live
     * edge; HTTP-FLV and native HLS, the media buffered ahead of currentTime.
     */
    latencyS: null,
    /** WebRTC: what getStats says (for people and tests). */
    webrtc: null,
    /** HTTP-FLV: the latency controller's target, rate and seeks. */
    chase: null,
    /** Date.now() minus the EXT-X-PROGRAM-DATE-TIME of the picture shown (hls.js), in s. */
    programDateLatencyS: null,
    /** Codec strings of the SourceBuffers, e.g. ['avc1.64001e', 'mp4a.40.2'] (hls.js). */
    codecs: [],
    bitrateKbps: null,
    /**
     * hls.js with a multivariant playlist (an ABR ladder): its variants (lowest first), the one
     * playing, whether hls.js picks (auto) and every switch hls.js made.
     */
    renditions: null,
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
      /** The longest single stall after the start, in ms. */
      longestRebufferMs: 0,
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

  /** Switches the protocol in use: the stats line, <body data-mode> and the highlighted link. */
  function setMode(mode) {
    state.mode = mode;
    state.url = urls[mode];
    body.dataset.mode = mode;
    for (const name of MODES) {
      const link = document.getElementById(`mode-${name}`);
      if (name === mode) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
  }
  setMode(firstMode);

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
    hls.on(Hls.Events.MANIFEST_PARSED, (_event, data) => {
      showRenditions(hls, data.levels);
      play();
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_event, data) => {
      if (state.renditions === null) return;
      state.renditions.current = data.level;
      state.renditions.switches.push({ atMs: Math.round(performance.now()), level: data.level });
      if (state.renditions.switches.length > 100) state.renditions.switches.shift();
    });
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

  /** The quality menu: Auto (hls.js picks by bandwidth) or one variant, when there are several. */
  function showRenditions(hls, levels) {
    const box = document.getElementById('quality-box');
    const select = document.getElementById('quality');
    if (levels.length < 2) {
      state.renditions = null;
      box.hidden = true;
      return;
    }
    state.renditions = {
      levels: levels.map((level) => ({
        height: level.height,
        width: level.width,
        bitrateKbps: Math.round(level.bitrate / 1000),
      })),
      current: hls.currentLevel,
      auto: true,
      switches: [],
    };
    select.replaceChildren(new Option('Auto', '-1', true, true));
    levels.forEach((level, index) => {
      const label = `${level.height}p · ${Math.round(level.bitrate / 1000)} kbps`;
      select.append(new Option(label, String(index)));
    });
    select.onchange = () => {
      const chosen = Number(select.value);
      state.renditions.auto = chosen === -1;
      // At the next segment or part: what is buffered plays on, no stall.
      hls.nextLevel = chosen;
    };
    box.hidden = false;
  }

  /** "480p (auto)": what the quality menu's variant is now. */
  function renditionText() {
    const renditions = state.renditions;
    if (renditions === null) return null;
    const level = renditions.levels[renditions.current];
    if (level === undefined) return renditions.auto ? 'auto' : '-';
    return `${level.height}p${renditions.auto ? ' (auto)' : ''}`;
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

  // --- WebRTC through WHEP -----------------------------------------------------------------------

  /** A WHEP failure: `status` is the HTTP status (0: the connection itself failed). */
  function whepError(message, status) {
    const error = new Error(message);
    error.status = status;
    return error;
  }

  /** Stops a WebRTC engine that is still connecting (the page is being left). */
  let stopConnecting = null;

  /**
   * Plays the stream over WebRTC: POST a recvonly offer (video and audio) to the WHEP endpoint,
   * wait (up to `connectMs`) for a picture. Rejects with whepError() when the offer is refused or
   * nothing plays in time; the viewer's resource is DELETEd whenever the engine stops.
   */
  async function startWebRtc(connectMs) {
    state.engine = 'webrtc';
    const pc = new RTCPeerConnection();
    const stream = new MediaStream();
    let resource = null;
    let stopped = false;
    let statsTimer = null;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      clearInterval(statsTimer);
      pc.ontrack = null;
      pc.onconnectionstatechange = null;
      pc.close();
      if (video.srcObject === stream) video.srcObject = null;
      if (resource !== null) {
        void fetch(resource, { method: 'DELETE', keepalive: true }).catch(() => undefined);
        resource = null;
      }
    };
    stopConnecting = stop;
    try {
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      pc.ontrack = (event) => {
        stream.addTrack(event.track);
      };
      await pc.setLocalDescription(await pc.createOffer());
      const headers = { 'Content-Type': 'application/sdp' };
      if (token !== null) headers.Authorization = `Bearer ${token}`;
      let response;
      let answer;
      try {
        response = await fetch(urls.webrtc, {
          method: 'POST',
          headers,
          body: pc.localDescription.sdp,
          signal: AbortSignal.timeout(connectMs),
        });
        answer = await response.text();
      } catch (error) {
        throw whepError(`WebRTC: the WHEP request failed (${String(error)})`, 0);
      }
      if (response.status !== 201) {
        const reason = answer.trim().slice(0, 200);
        throw whepError(
          `WebRTC: HTTP ${response.status}${reason ? ` ${reason}` : ''}`,
          response.status,
        );
      }
      const location = response.headers.get('Location');
      if (location) resource = new URL(location, window.location.href).href;
      state.webrtc = { resource, connectionState: pc.connectionState };
      if (stopped) throw whepError('WebRTC: stopped while connecting', 0);
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      video.srcObject = stream;
      play();
      // Connected means a picture (or, for a stream without video, sound) within connectMs.
      const deadline = performance.now() + connectMs;
      while (!(pc.connectionState === 'connected' && video.readyState >= 2)) {
        if (stopped) throw whepError('WebRTC: stopped while connecting', 0);
        if (pc.connectionState === 'failed' || pc.connectionState === 'closed')
          throw whepError(`WebRTC: the connection ${pc.connectionState}`, 0);
        if (performance.now() > deadline)
          throw whepError(
            `WebRTC: nothing played within ${connectMs / 1000} s (connection ${pc.connectionState})`,
            0,
          );
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } catch (error) {
      stop();
      throw error;
    } finally {
      if (stopConnecting === stop) stopConnecting = null;
    }
    pc.onconnectionstatechange = () => {
      state.webrtc.connectionState = pc.connectionState;
      if (stopped || engine === null || state.engine !== 'webrtc') return;
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
        reportError(`WebRTC: the connection ${pc.connectionState}`);
        retry('The WebRTC connection was lost');
      }
    };
    // Latency from getStats: the jitter buffer's delay over the last interval (its totals'
    // differences) plus half the round trip; the bitrate from the bytes received.
    let jitter = null;
    let bytesBefore = null;
    let latencyS = null;
    const sampleStats = async () => {
      const report = await pc.getStats().catch(() => null);
      if (report === null || stopped) return;
      let rttS = null;
      let bytes = 0;
      let videoJitter = null;
      let audioJitter = null;
      const info = { resource, connectionState: pc.connectionState };
      report.forEach((r) => {
        if (r.type === 'candidate-pair' && r.state === 'succeeded' && r.nominated) {
          if (typeof r.currentRoundTripTime === 'number') rttS = r.currentRoundTripTime;
        } else if (r.type === 'inbound-rtp') {
          bytes += r.bytesReceived || 0;
          const buffered = {
            delayS: r.jitterBufferDelay || 0,
            count: r.jitterBufferEmittedCount || 0,
          };
          if (r.kind === 'video') {
            videoJitter = buffered;
            info.framesDecoded = r.framesDecoded || 0;
          } else if (r.kind === 'audio') {
            audioJitter = buffered;
            info.audioSamplesReceived = r.totalSamplesReceived || 0;
            info.audioConcealedSamples = r.concealedSamples || 0;
          }
        }
      });
      const current = videoJitter || audioJitter;
      if (current !== null && jitter !== null && current.count > jitter.count) {
        const jitterS = (current.delayS - jitter.delayS) / (current.count - jitter.count);
        latencyS = jitterS + (rttS === null ? 0 : rttS / 2);
        info.jitterBufferS = jitterS;
      }
      if (current !== null) jitter = current;
      info.rttS = rttS;
      if (bytesBefore !== null && bytes >= bytesBefore) countBytes(bytes - bytesBefore);
      bytesBefore = bytes;
      state.webrtc = info;
    };
    statsTimer = setInterval(() => void sampleStats(), STATS_INTERVAL_MS);
    void sampleStats();
    return {
      stop,
      latencyS: () => latencyS,
      bitrateKbps: measuredKbps,
    };
  }

  /** What ?mode=webrtc does when WebRTC fails: shows why, and retries unless it cannot help. */
  function webRtcFailed(error) {
    const message = String(error && error.message ? error.message : error);
    const status = error && typeof error.status === 'number' ? error.status : 0;
    if (status === 401 || status === 403) {
      fail(`${message}: this stream needs a valid playback token (?token=)`);
      return;
    }
    if (status >= 400 && status < 500 && status !== 404 && status !== 429) {
      fail(message);
      return;
    }
    reportError(message);
    retry(status === 404 ? 'The stream is not live' : 'WebRTC playback failed');
  }

  // --- HTTP-FLV through mpegts.js ----------------------------------------------------------------

  /**
   * Plays HTTP-FLV; `chase` is latency-chase.js, which sets the playback rate (and seeks when far
   * behind) to hold the buffered-ahead time near its target (mpegts.js's own chasing is off).
   */
  function startMpegts(chase) {
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
        // latency-chase.js holds the latency (the GOP cache starts viewers one GOP late).
        liveSync: false,
        liveBufferLatencyChasing: false,
      },
    );
    let chaseState = chase.initialChaseState(performance.now());
    let stalled = false;
    let hasPlayed = false;
    /** A seek of the controller's own may stall for a moment: that is no reason to raise the target. */
    let ignoreStallsUntilMs = 0;
    let seeks = 0;
    const onPlaying = () => {
      hasPlayed = true;
    };
    const onWaiting = () => {
      if (hasPlayed && performance.now() >= ignoreStallsUntilMs) stalled = true;
    };
    video.addEventListener('playing', onPlaying);
    video.addEventListener('waiting', onWaiting);
    const chaseTimer = setInterval(() => {
      if (video.paused || !hasPlayed) return;
      const nowMs = performance.now();
      const next = chase.chaseLatency(chaseState, { bufferS: bufferAheadS(), nowMs, stalled });
      stalled = false;
      chaseState = next;
      if (next.seekS > 0) {
        seeks++;
        ignoreStallsUntilMs = nowMs + 1000;
        video.currentTime += next.seekS;
      }
      if (video.playbackRate !== next.playbackRate) video.playbackRate = next.playbackRate;
      state.chase = { targetS: next.targetS, playbackRate: next.playbackRate, seeks };
    }, CHASE_INTERVAL_MS);
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
        clearInterval(chaseTimer);
        video.removeEventListener('playing', onPlaying);
        video.removeEventListener('waiting', onWaiting);
        video.playbackRate = 1;
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
      if (requested === 'auto') setMode(autoWebRtc ? 'webrtc' : 'hls');
      if (state.mode === 'webrtc') {
        if (!hasWebRtc) {
          fail('WebRTC is not available in this browser: use LL-HLS');
          return;
        }
        try {
          const connectMs = requested === 'auto' ? WEBRTC_AUTO_CONNECT_MS : WEBRTC_CONNECT_MS;
          engine = await startWebRtc(connectMs);
          return;
        } catch (error) {
          if (requested === 'webrtc') {
            webRtcFailed(error);
            return;
          }
          // No mode asked for: LL-HLS instead (WebRTC is tried again later only when the stream
          // was not live; LL-HLS then says so itself).
          warn(`WebRTC not used: ${String(error && error.message ? error.message : error)}`);
          if (!(error && error.status === 404)) autoWebRtc = false;
          setMode('hls');
        }
      }
      if (state.mode === 'flv') {
        if (!hasMediaSource()) {
          fail('HTTP-FLV needs Media Source Extensions, which this browser lacks: use LL-HLS');
          return;
        }
        const [chase] = await Promise.all([
          import('/assets/latency-chase.js'),
          loadScript('/assets/mpegts.js'),
        ]);
        engine = startMpegts(chase);
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
    const modeName = { webrtc: 'WebRTC', hls: 'LL-HLS', flv: 'HTTP-FLV' }[state.mode];
    const details = [
      state.engine !== null && state.engine !== 'webrtc' ? state.engine : null,
      state.requested === 'auto' ? 'auto' : null,
    ].filter((part) => part !== null);
    stat('mode').textContent = `${modeName}${details.length > 0 ? ` (${details.join(', ')})` : ''}`;
    stat('latency').textContent = formatNumber(state.latencyS, 2, 's');
    stat('bitrate').textContent = formatNumber(state.bitrateKbps, 0, 'kbps');
    stat('resolution').textContent = state.width > 0 ? `${state.width}×${state.height}` : '-';
    stat('rendition').textContent = renditionText() ?? '-';
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
    // A WebRTC viewer ends now (DELETE of its WHEP resource), not when the server notices.
    if (stopConnecting !== null) stopConnecting();
    if (engine !== null && state.engine === 'webrtc') {
      engine.stop();
      engine = null;
    }
  });

  video.addEventListener('playing', () => {
    const nowMs = performance.now();
    if (qoe.startupMs === null) qoe.startupMs = nowMs - pageStartMs;
    if (stallStartMs !== null) {
      qoe.rebufferMs += nowMs - stallStartMs;
      qoe.longestRebufferMs = Math.max(qoe.longestRebufferMs, Math.round(nowMs - stallStartMs));
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
