// inferflow voice page: one WHIP call, the assistant's audio, and the
// session's events drawn as figures, lists and a scrolling timeline.
// Plain JavaScript, no build step; served from the binary.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SAMPLE_MS = 50;       // one timeline column
  const ICE_WAIT_MS = 2000;   // WHIP here is non-trickle: gather, then offer
  const MAX_ROWS = 200;       // bound the lists on long calls

  const cfg = { token: "", temporalUI: "http://localhost:8233", namespace: "default", whip: "/whip" };

  // Everything the page knows about the current call. window.inferflowVoice
  // exposes a copy for tests and curious people.
  const state = {
    phase: "idle", // idle | connecting | live | ended | error
    sessionId: "", workflowId: "", error: "", endedReason: "",
    turnState: "", barrierClosed: false, figures: null,
    turns: [], responses: [], interruptions: 0, events: 0, gatherMs: 0,
  };
  let call = null; // {pc, dc, stream, resource, token, ctx, micAn, playAn, timer}
  let lastFig = null;
  let samples = [];

  // ---- configuration ----------------------------------------------------
  async function loadConfig() {
    try {
      const r = await fetch("/voice/config.json", { cache: "no-store" });
      if (r.ok) Object.assign(cfg, await r.json());
    } catch (_) { /* defaults */ }
    const q = new URLSearchParams(location.search);
    const ui = q.get("temporalUI");
    if (ui && /^https?:\/\/[^\s]+$/i.test(ui)) cfg.temporalUI = ui.replace(/\/+$/, "");
    if (q.get("namespace")) cfg.namespace = q.get("namespace");
    if (!$("token").value) $("token").value = cfg.token || "";
  }

  // ---- messages -----------------------------------------------------------
  function setStatus(text) { $("status").textContent = text; }
  function showError(text) {
    state.error = text;
    if (state.phase !== "idle") state.phase = "error";
    const e = $("error");
    e.textContent = text;
    e.hidden = !text;
  }
  function clearError() { showError(""); }

  function describeMediaError(err) {
    switch (err && err.name) {
      case "NotAllowedError":
      case "SecurityError":
        return "Microphone access was refused. Allow the microphone for this page (the icon in the address bar, or the site settings) and press Start again.";
      case "NotFoundError":
      case "OverconstrainedError":
        return "No microphone was found. Connect one and press Start again.";
      case "NotReadableError":
        return "The microphone is in use by another application or could not be opened.";
      default:
        return "The microphone could not be opened: " + (err && err.message ? err.message : String(err));
    }
  }

  async function describeHTTPError(resp) {
    let body = {};
    try { body = await resp.json(); } catch (_) { /* not JSON */ }
    const msg = body.message ? " (" + body.message + ")" : "";
    switch (resp.status) {
      case 401:
        return "The token was refused (401 Unauthorized)" + msg + ". Check the bearer token and press Start again.";
      case 429: {
        const ra = parseInt(resp.headers.get("Retry-After") || "", 10);
        const when = Number.isFinite(ra) ? " Try again in " + ra + " s." : " Try again shortly.";
        return "The server is full (429 Too Many Requests)" + msg + "." + when;
      }
      case 503: {
        const ra = parseInt(resp.headers.get("Retry-After") || "", 10);
        return "The server is unavailable (503)" + msg + "." + (Number.isFinite(ra) ? " Try again in " + ra + " s." : "");
      }
      default:
        return "The server refused the call (" + resp.status + ")" + msg + ".";
    }
  }

  // ---- the call -----------------------------------------------------------
  async function start(ev) {
    if (ev) ev.preventDefault();
    if (call) return;
    clearError();
    const token = $("token").value.trim();
    if (!token) { showError("Enter the bearer token first."); $("token").focus(); return; }
    if (!navigator.mediaDevices || !window.RTCPeerConnection) {
      showError("This page needs a browser with WebRTC and microphone access over https or on localhost.");
      return;
    }
    resetCall();
    state.phase = "connecting";
    $("start").disabled = true;
    $("stop").disabled = false;
    setStatus("Asking for the microphone…");
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: false, autoGainControl: false }, video: false });
    } catch (err) {
      failStart(describeMediaError(err));
      return;
    }
    const c = { stream, token, pc: null, dc: null, resource: "", ctx: null, micAn: null, playAn: null, timer: 0, ending: false };
    call = c;
    try {
      await connect(c);
    } catch (err) {
      if (call === c) { teardown(c); failStart(err.userMessage || ("Could not connect: " + err.message)); }
    }
  }

  function failStart(msg) {
    state.phase = "error";
    showError(msg);
    setStatus("Not connected.");
    $("start").disabled = false;
    $("stop").disabled = true;
    $("start").focus();
  }

  async function connect(c) {
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    c.pc = pc;
    // The page opens the events channel so the offer carries it.
    const dc = pc.createDataChannel("events");
    c.dc = dc;
    // The server may send events as binary messages: decode them as UTF-8.
    dc.binaryType = "arraybuffer";
    const utf8 = new TextDecoder();
    dc.onmessage = (e) => onEvent(typeof e.data === "string" ? e.data : utf8.decode(e.data));
    dc.onclose = () => { if (call === c && !c.ending) dropped("The events channel closed."); };
    const track = c.stream.getAudioTracks()[0];
    // Audio only; the assistant answers on the same m-line.
    const tr = pc.addTransceiver(track, { direction: "sendrecv", streams: [c.stream] });
    preferOpus(tr);
    pc.ontrack = (e) => {
      const audio = $("assistant");
      audio.srcObject = e.streams[0] || new MediaStream([e.track]);
      audio.play().catch(() => {});
      c.playAn = analyser(c, new MediaStream([e.track]));
    };
    pc.onconnectionstatechange = () => {
      if (call !== c) return;
      const s = pc.connectionState;
      if (s === "connected") {
        state.phase = "live";
        setStatus("Connected: talk. The assistant answers when you pause.");
      } else if (s === "failed") {
        dropped("The connection failed (ICE or DTLS).");
      } else if (s === "disconnected") {
        setStatus("The connection is interrupted; waiting for it to come back…");
      }
    };
    c.micAn = analyser(c, c.stream);
    c.timer = setInterval(tick, SAMPLE_MS);

    setStatus("Connecting…");
    await pc.setLocalDescription(await pc.createOffer());
    const t0 = performance.now();
    await gathered(pc);
    state.gatherMs = Math.round(performance.now() - t0);
    let resp;
    try {
      resp = await fetch(cfg.whip, {
        method: "POST",
        headers: { "Content-Type": "application/sdp", "Authorization": "Bearer " + c.token },
        body: pc.localDescription.sdp,
      });
    } catch (err) {
      const e = new Error(err.message);
      e.userMessage = "The server cannot be reached: " + err.message;
      throw e;
    }
    if (resp.status !== 201) {
      const e = new Error("HTTP " + resp.status);
      e.userMessage = await describeHTTPError(resp);
      throw e;
    }
    const loc = resp.headers.get("Location");
    c.resource = loc ? new URL(loc, new URL(cfg.whip, location.href)).toString() : "";
    const answer = await resp.text();
    if (call !== c) return; // stopped meanwhile
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
  }

  function preferOpus(tr) {
    if (!tr.setCodecPreferences || !window.RTCRtpReceiver || !RTCRtpReceiver.getCapabilities) return;
    const caps = RTCRtpReceiver.getCapabilities("audio");
    if (!caps) return;
    const opus = caps.codecs.filter((x) => /opus/i.test(x.mimeType));
    if (opus.length) { try { tr.setCodecPreferences(opus); } catch (_) { /* keep the default */ } }
  }

  function gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ICE_WAIT_MS);
      function done() { clearTimeout(t); pc.removeEventListener("icegatheringstatechange", check); resolve(); }
      function check() { if (pc.iceGatheringState === "complete") done(); }
      pc.addEventListener("icegatheringstatechange", check);
    });
  }

  function analyser(c, stream) {
    try {
      if (!c.ctx) c.ctx = new (window.AudioContext || window.webkitAudioContext)();
      if (c.ctx.state === "suspended") c.ctx.resume().catch(() => {});
      const an = c.ctx.createAnalyser();
      an.fftSize = 1024;
      c.ctx.createMediaStreamSource(stream).connect(an);
      return { an, buf: new Float32Array(an.fftSize) };
    } catch (_) {
      return null;
    }
  }

  function level(a) {
    if (!a) return 0;
    a.an.getFloatTimeDomainData(a.buf);
    let s = 0;
    for (let i = 0; i < a.buf.length; i++) s += a.buf[i] * a.buf[i];
    const db = 10 * Math.log10(s / a.buf.length + 1e-10);
    return Math.max(0, Math.min(1, (db + 70) / 70)); // -70..0 dBFS → 0..1
  }

  function dropped(why) {
    const c = call;
    if (!c) return;
    teardown(c);
    state.phase = "error";
    showError("The connection dropped. " + why + " Press Start to call again.");
    setStatus("Disconnected.");
  }

  async function stop() {
    const c = call;
    if (!c) return;
    c.ending = true;
    setStatus("Ending the call…");
    if (c.resource) {
      try {
        await fetch(c.resource, { method: "DELETE", headers: { "Authorization": "Bearer " + c.token } });
      } catch (_) { /* the peer connection closing ends it too */ }
    }
    teardown(c);
    if (state.phase !== "error") state.phase = "ended";
    setStatus("Call ended.");
  }

  function teardown(c) {
    c.ending = true;
    if (call === c) call = null;
    clearInterval(c.timer);
    try { if (c.dc) c.dc.close(); } catch (_) { /* closed */ }
    try { if (c.pc) c.pc.close(); } catch (_) { /* closed */ }
    c.stream.getTracks().forEach((t) => t.stop());
    if (c.ctx) c.ctx.close().catch(() => {});
    $("assistant").srcObject = null;
    // What was still going on when the call ended stays visibly unfinished.
    for (const t of state.turns) {
      const li = $("turn-" + t.turn);
      if (t.durationMs === null && li) li.textContent = "Turn " + t.turn + ": cut off when the call ended";
    }
    for (const r of state.responses) {
      if (r.status === "active") { r.status = "unfinished"; renderResponse(r.seq); }
    }
    $("start").disabled = false;
    $("stop").disabled = true;
  }

  function resetCall() {
    Object.assign(state, { sessionId: "", workflowId: "", error: "", endedReason: "", turnState: "", barrierClosed: false,
      figures: null, turns: [], responses: [], interruptions: 0, events: 0, gatherMs: 0 });
    lastFig = null;
    samples = [];
    $("turns").textContent = "";
    $("responses").textContent = "";
    for (const id of ["admitted", "held", "dropped", "echo"]) $(id).textContent = "0";
    for (const id of ["turn-state", "barrier", "noise", "balance", "workflow"]) $(id).textContent = "–";
  }

  // ---- events -------------------------------------------------------------
  function onEvent(data) {
    let m;
    try { m = JSON.parse(data); } catch (_) { return; }
    if (!m || typeof m.type !== "string") return;
    state.events++;
    switch (m.type) {
      case "session.started":
        state.sessionId = m.sessionId || "";
        if (m.workflowId) setWorkflow(m.workflowId);
        break;
      case "session.workflow":
        if (m.workflowId) setWorkflow(m.workflowId);
        break;
      case "gate.state":
        state.turnState = m.state || "";
        $("turn-state").textContent = state.turnState;
        mark("state");
        break;
      case "gate.barrier":
        state.barrierClosed = !!m.closed;
        $("barrier").textContent = state.barrierClosed ? "closed" : "open";
        break;
      case "gate.figures":
        if (m.figures) onFigures(m.figures);
        break;
      case "turn.started":
        turnStarted(m);
        break;
      case "turn.ended":
        turnEnded(m);
        break;
      case "response.started":
        responseRow(m.responseSeq, m.responseId).status = "active";
        renderResponse(m.responseSeq);
        break;
      case "response.transcript": {
        const r = findResponse(m.responseSeq, m.responseId);
        if (r) { r.text = (r.text + (m.text || "")).slice(-2048); renderResponse(r.seq); }
        break;
      }
      case "response.done": {
        const r = responseRow(m.responseSeq, m.responseId);
        r.status = m.status || "done";
        r.usage = m.usage || null;
        if (m.reason) r.reason = m.reason;
        renderResponse(r.seq);
        break;
      }
      case "response.billed": {
        const r = responseRow(m.responseSeq, "");
        if (typeof m.chargedMicroCredits === "number") r.charged = m.chargedMicroCredits;
        if (typeof m.balanceMicroCredits === "number") $("balance").textContent = credits(m.balanceMicroCredits);
        renderResponse(r.seq);
        break;
      }
      case "response.refused": {
        const r = responseRow(m.responseSeq, "");
        r.status = "refused";
        r.reason = m.reason || "";
        renderResponse(r.seq);
        break;
      }
      case "billing.unavailable": {
        const r = responseRow(m.responseSeq, "");
        r.billing = "billing deferred" + (m.reason ? ": " + m.reason : "");
        renderResponse(r.seq);
        break;
      }
      case "interruption": {
        state.interruptions++;
        const r = findResponse(m.responseSeq, m.responseId);
        if (r) { r.interrupted = true; renderResponse(r.seq); }
        mark("interrupt");
        break;
      }
      case "model.error":
        setStatus("The model reported an error: " + (m.reason || m.text || "unknown"));
        break;
      case "session.ended": {
        state.endedReason = m.reason || "closed";
        const c = call;
        if (c) {
          teardown(c);
          if (state.endedReason !== "closed" && !/deleted by caller/.test(state.endedReason)) {
            state.phase = "error";
            showError("The call ended: " + state.endedReason + ".");
          } else {
            state.phase = "ended";
          }
          setStatus("Call ended (" + state.endedReason + ").");
        }
        break;
      }
    }
  }

  function setWorkflow(id) {
    state.workflowId = id;
    const a = document.createElement("a");
    a.href = cfg.temporalUI + "/namespaces/" + encodeURIComponent(cfg.namespace) + "/workflows/" + encodeURIComponent(id);
    a.textContent = id;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    a.id = "workflow-link";
    const dd = $("workflow");
    dd.textContent = "";
    dd.appendChild(a);
  }

  function onFigures(f) {
    state.figures = f;
    state.turnState = f.turnState || state.turnState;
    state.barrierClosed = !!f.barrierClosed;
    $("turn-state").textContent = state.turnState || "–";
    $("barrier").textContent = state.barrierClosed ? "closed" : "open";
    $("admitted").textContent = f.admitted;
    $("held").textContent = f.held;
    $("dropped").textContent = f.dropped;
    $("echo").textContent = f.echo;
    if (typeof f.noiseFloorDb === "number" && f.noiseFloorDb !== 0) $("noise").textContent = f.noiseFloorDb.toFixed(1) + " dB";
    // The deltas since the last figures colour the columns since then.
    if (lastFig) {
      const d = {
        admitted: Math.max(0, f.admitted - lastFig.admitted), held: Math.max(0, f.held - lastFig.held),
        dropped: Math.max(0, f.dropped - lastFig.dropped), echo: Math.max(0, f.echo - lastFig.echo),
      };
      let kind = "";
      if (d.echo > 0 && d.echo >= d.admitted) kind = "echo";
      else if (d.admitted > 0 && d.admitted >= d.held) kind = "admitted";
      else if (d.held > 0) kind = "held";
      else if (d.dropped > 0) kind = "dropped";
      for (let i = samples.length - 1; i >= 0 && samples[i].gate === null; i--) samples[i].gate = kind;
    }
    lastFig = f;
  }

  function turnStarted(m) {
    const t = { turn: m.turn, atMs: m.atMs, durationMs: null, framesAdmitted: null };
    state.turns.push(t);
    if (state.turns.length > MAX_ROWS) state.turns.shift();
    const li = document.createElement("li");
    li.id = "turn-" + m.turn;
    li.textContent = "Turn " + m.turn + ": speaking…";
    appendRow($("turns"), li);
    mark("turn");
  }

  function turnEnded(m) {
    let t = state.turns.find((x) => x.turn === m.turn);
    if (!t) { turnStarted(m); t = state.turns[state.turns.length - 1]; }
    t.durationMs = m.durationMs || 0;
    t.framesAdmitted = m.framesAdmitted || 0;
    const li = $("turn-" + m.turn);
    if (li) {
      li.textContent = "";
      li.append("Turn " + m.turn + ": " + (t.durationMs / 1000).toFixed(2) + " s ");
      const span = document.createElement("span");
      span.className = "meta";
      span.textContent = "(" + t.framesAdmitted + " frames admitted, at " + (m.atMs / 1000).toFixed(1) + " s)";
      li.appendChild(span);
    }
  }

  function findResponse(seq, id) {
    return state.responses.find((r) => (seq && r.seq === seq) || (id && r.id === id));
  }

  function responseRow(seq, id) {
    let r = findResponse(seq, id);
    if (!r) {
      r = { seq: seq || state.responses.length + 1, id: id || "", status: "", usage: null, text: "", reason: "", billing: "", interrupted: false };
      state.responses.push(r);
      if (state.responses.length > MAX_ROWS) state.responses.shift();
      const li = document.createElement("li");
      li.id = "response-" + r.seq;
      appendRow($("responses"), li);
    }
    if (id && !r.id) r.id = id;
    return r;
  }

  // credits shows micro-credits as the ledger counts them.
  function credits(micro) {
    return micro.toLocaleString("en-US") + " µcr";
  }

  function renderResponse(seq) {
    const r = state.responses.find((x) => x.seq === seq);
    const li = r && $("response-" + seq);
    if (!li) return;
    li.textContent = "";
    li.append("Response " + r.seq + ": ");
    const st = document.createElement("span");
    st.className = "status-" + r.status;
    st.textContent = r.status === "active" ? "speaking…" : r.status;
    li.appendChild(st);
    // Completed responses are captured at their usage; the hold of a
    // cancelled or failed one is released (CONTRACT.md, billing of responses).
    if (r.usage && r.status === "completed") {
      li.append(", billed " + r.usage.inputTokens + " in + " + r.usage.outputTokens + " out tokens");
      if (typeof r.charged === "number") li.append(" = " + credits(r.charged));
    }
    else if (r.usage) li.append(", not billed (hold released; used " + r.usage.inputTokens + " in + " + r.usage.outputTokens + " out tokens)");
    if (r.interrupted) li.append(", interrupted");
    const meta = [r.id, r.reason, r.billing].filter(Boolean).join(" · ");
    if (meta) {
      const span = document.createElement("div");
      span.className = "meta";
      span.textContent = meta;
      li.appendChild(span);
    }
    if (r.text) {
      const q = document.createElement("div");
      q.textContent = "“" + r.text + "”";
      li.appendChild(q);
    }
  }

  function appendRow(list, li) {
    list.appendChild(li);
    while (list.children.length > MAX_ROWS) list.removeChild(list.firstChild);
    list.scrollTop = list.scrollHeight;
  }

  // ---- timeline -----------------------------------------------------------
  let pendingMarks = [];
  function mark(kind) { pendingMarks.push(kind); }

  function tick() {
    const c = call;
    const active = state.responses.some((r) => r.status === "active");
    samples.push({
      mic: c ? level(c.micAn) : 0,
      play: c ? level(c.playAn) : 0,
      speaking: active,
      barrier: state.barrierClosed,
      state: state.turnState,
      gate: null, // filled from the next gate.figures
      marks: pendingMarks,
    });
    pendingMarks = [];
    const cv = $("timeline");
    const keep = Math.max(cv.clientWidth, 720);
    if (samples.length > keep) samples.splice(0, samples.length - keep);
    draw(cv);
  }

  const COLORS = {
    admitted: "#1b7f3b", held: "#b86e00", dropped: "#8b93a1", echo: "#7b3fb8",
    play: "#0b57d0", barrier: "#d9463b", mic: "#111418", grid: "#e3e6ea", text: "#4a5260",
  };

  // fitCanvas gives the canvas one device pixel per screen pixel at its
  // laid-out size (a phone shows fewer seconds, not smaller letters).
  const CANVAS_H = 200;
  function fitCanvas(cv) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(200, Math.round(cv.clientWidth || 720));
    if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(CANVAS_H * dpr)) {
      cv.width = Math.round(w * dpr);
      cv.height = Math.round(CANVAS_H * dpr);
    }
    const g = cv.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { g, W: w, H: CANVAS_H };
  }

  function draw(cv) {
    const { g, W, H } = fitCanvas(cv);
    g.clearRect(0, 0, W, H);
    // Lanes: mic 0-70, gate 78-102, playback 110-150, barrier 158-176.
    const lanes = { mic: [4, 70], gate: [80, 104], play: [112, 152], barrier: [160, 178] };
    g.fillStyle = COLORS.grid;
    for (const k in lanes) g.fillRect(0, lanes[k][1] + 1, W, 1);
    const shown = samples.length > W ? samples.slice(samples.length - W) : samples;
    const x0 = W - shown.length;
    for (let i = 0; i < shown.length; i++) {
      const s = shown[i], x = x0 + i;
      const mh = Math.round(s.mic * (lanes.mic[1] - lanes.mic[0]));
      g.fillStyle = COLORS.mic;
      g.fillRect(x, lanes.mic[1] - mh, 1, mh);
      if (s.gate) {
        g.fillStyle = COLORS[s.gate];
        g.fillRect(x, lanes.gate[0], 1, lanes.gate[1] - lanes.gate[0]);
      }
      const ph = Math.round(s.play * (lanes.play[1] - lanes.play[0]));
      if (s.speaking || ph > 0) {
        g.fillStyle = s.speaking ? "rgba(11,87,208,0.18)" : "transparent";
        g.fillRect(x, lanes.play[0], 1, lanes.play[1] - lanes.play[0]);
        g.fillStyle = COLORS.play;
        g.fillRect(x, lanes.play[1] - ph, 1, ph);
      }
      if (s.barrier) {
        g.fillStyle = COLORS.barrier;
        g.fillRect(x, lanes.barrier[0], 1, lanes.barrier[1] - lanes.barrier[0]);
      }
      for (const m of s.marks) {
        g.fillStyle = m === "interrupt" ? COLORS.barrier : m === "turn" ? COLORS.admitted : "transparent";
        if (m !== "state") g.fillRect(x, 0, 1, H - 14);
      }
    }
    g.fillStyle = COLORS.text;
    g.font = "11px system-ui, sans-serif";
    g.fillText("mic", 4, 14);
    g.fillText("gate", 4, lanes.gate[0] - 2);
    g.fillText("assistant", 4, lanes.play[0] + 10);
    g.fillText("barrier", 4, lanes.barrier[0] - 2);
    const secs = (shown.length * SAMPLE_MS) / 1000;
    g.fillText("now", W - 24, H - 3);
    if (secs > 5) g.fillText("−" + Math.round(secs) + " s", x0 + 2, H - 3);
  }

  // ---- wiring -------------------------------------------------------------
  window.inferflowVoice = { snapshot: () => JSON.parse(JSON.stringify(state)) };
  document.addEventListener("DOMContentLoaded", () => {
    $("call-form").addEventListener("submit", start);
    $("stop").addEventListener("click", stop);
    window.addEventListener("pagehide", () => { if (call) stop(); });
    loadConfig();
    draw($("timeline"));
    window.addEventListener("resize", () => draw($("timeline")));
  });
})();
