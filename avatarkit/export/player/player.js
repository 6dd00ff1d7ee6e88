/* avatarkit player: an accessible video player that reports watched time to SCORM 1.2, SCORM 2004, cmi5 or the browser.
 *
 * Plain ES2017, no build step. Completion counts watched time: the union of the intervals actually played,
 * kept as fractions of the video so that they carry over when the learner switches language. Positions are
 * in seconds. The course description comes from the JSON embedded in index.html (also shipped as course.json).
 */
(function () {
  "use strict";

  var course = JSON.parse(document.getElementById("ak-course").textContent);
  var T = Object.assign({
    play: "Play", pause: "Pause", mute: "Mute", unmute: "Unmute", of: "of", resumed: "Resuming at",
    completed: "Completed: you have watched enough of this video.", offline: "Progress is saved in this browser.",
    lmsError: "The learning platform did not answer; progress may not be saved."
  }, course.ui || {});
  var RES = 10000;            // watched intervals are stored in units of 1/RES of the video
  var SUSPEND_MAX = 3500;     // SCORM 1.2 allows 4096 characters of suspend_data; leave room
  var STATE_ID = "avatarkit-bookmark";
  var $ = function (id) { return document.getElementById(id); };
  var video = $("ak-video"), stage = $("ak-stage"), seek = $("ak-seek"), statusLine = $("ak-status");
  var playBtn = $("ak-play"), muteBtn = $("ak-mute"), ccBtn = $("ak-cc"), langSel = $("ak-lang");

  // ---- watched intervals -------------------------------------------------------------------------

  class Watched {
    constructor() { this.spans = []; }
    add(a, b) {
      a = Math.max(0, a); b = Math.min(1, b);
      if (!(b > a)) return;
      var out = [], placed = false, eps = 0.5 / RES;
      for (var s of this.spans) {
        if (s[1] + eps < a) out.push(s);
        else if (b + eps < s[0]) { if (!placed) { out.push([a, b]); placed = true; } out.push(s); }
        else { a = Math.min(a, s[0]); b = Math.max(b, s[1]); }
      }
      if (!placed) out.push([a, b]);
      this.spans = out;
    }
    get share() { return this.spans.reduce(function (n, s) { return n + s[1] - s[0]; }, 0); }
    encode(maxLen) {
      var spans = this.spans.slice();
      var text = function () { return spans.map(function (s) { return Math.round(s[0] * RES) + "-" + Math.round(s[1] * RES); }).join(","); };
      // Too many scattered intervals: forget the shortest ones, so the share is never overstated.
      while (maxLen && text().length > maxLen) {
        var k = 0;
        spans.forEach(function (s, i) { if (s[1] - s[0] < spans[k][1] - spans[k][0]) k = i; });
        spans.splice(k, 1);
      }
      return text();
    }
    static decode(text) {
      var w = new Watched();
      (text || "").split(",").forEach(function (p) {
        var m = /^(\d+)-(\d+)$/.exec(p);
        if (m) w.add(+m[1] / RES, +m[2] / RES);
      });
      return w;
    }
  }

  // suspend_data / bookmark text: "1|<language>|<captions 0/1>|<intervals>".
  function packState(st, maxLen) { return ["1", st.language, st.captions ? "1" : "0", st.watched.encode(maxLen)].join("|"); }
  function unpackState(text) {
    var p = (text || "").split("|");
    if (p[0] !== "1" || p.length < 4) return {};
    return { language: p[1], captions: p[2] !== "0", watched: Watched.decode(p[3]) };
  }

  // ---- time formats ------------------------------------------------------------------------------

  function clock(s) {
    s = Math.max(0, Math.floor(s || 0));
    var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, x = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + x : m + ":" + x;
  }
  function scorm12Time(s) {   // CMITimespan HHHH:MM:SS.SS
    var cs = Math.round(s * 100), h = Math.floor(cs / 360000), m = Math.floor(cs / 6000) % 60, sec = (cs % 6000) / 100;
    return String(Math.min(h, 9999)).padStart(4, "0") + ":" + String(m).padStart(2, "0") + ":" + sec.toFixed(2).padStart(5, "0");
  }
  function isoDuration(s) {   // ISO 8601 duration, e.g. PT1M5.25S
    var cs = Math.round(s * 100), h = Math.floor(cs / 360000), m = Math.floor(cs / 6000) % 60, sec = (cs % 6000) / 100;
    return "PT" + (h ? h + "H" : "") + (m ? m + "M" : "") + String(+sec.toFixed(2)) + "S";
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.from(b, function (x) { return x.toString(16).padStart(2, "0"); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // ---- LMS adapters: start() -> saved state or null; save(state, final); complete(state); finish(state); event(name, data) ----

  function findApi(name) {
    function climb(win) {
      for (var n = 0; win && n < 10; n++) {
        try { if (win[name]) return win[name]; } catch (e) { return null; }  // a cross-origin frame ends the search
        if (!win.parent || win.parent === win) break;
        win = win.parent;
      }
      return null;
    }
    var api = climb(window);
    if (!api && window.opener) api = climb(window.opener);
    if (!api && window.top && window.top.opener) api = climb(window.top.opener);
    return api;
  }

  function scormAdapter(api, v2004) {
    var call = function (m12, m2004) { return v2004 ? m2004 : m12; };
    var el = v2004
      ? { location: "cmi.location", status: "cmi.completion_status", time: "cmi.session_time", exit: "cmi.exit" }
      : { location: "cmi.core.lesson_location", status: "cmi.core.lesson_status", time: "cmi.core.session_time", exit: "cmi.core.exit" };
    var get = function (k) { return String(api[call("LMSGetValue", "GetValue")](k) || ""); };
    var set = function (k, v) { return api[call("LMSSetValue", "SetValue")](k, String(v)); };
    var commit = function () { api[call("LMSCommit", "Commit")](""); };
    var started = 0, done = false, completed = false;
    function write(st) {
      set(el.location, st.position.toFixed(1));
      set("cmi.suspend_data", packState(st, SUSPEND_MAX));
      set(el.time, (v2004 ? isoDuration : scorm12Time)((performance.now() - started) / 1000));
      if (v2004) set("cmi.progress_measure", Math.min(1, st.watched.share).toFixed(4));
      set(el.exit, completed ? (v2004 ? "normal" : "") : "suspend");
    }
    return {
      name: v2004 ? "scorm2004" : "scorm12",
      start: function () {
        api[call("LMSInitialize", "Initialize")]("");
        started = performance.now();
        var status = get(el.status);
        completed = status === "completed" || status === "passed";
        if (!completed) set(el.status, "incomplete");
        var saved = unpackState(get("cmi.suspend_data"));
        var loc = parseFloat(get(el.location));
        if (isFinite(loc)) saved.position = loc;
        saved.completed = completed;
        if (v2004) {   // the LMS's threshold from the manifest wins over the packaged one
          var th = parseFloat(get("cmi.completion_threshold"));
          if (isFinite(th) && th >= 0 && th <= 1) saved.threshold = th;
        }
        return Promise.resolve(saved);
      },
      save: function (st, flush) { if (!done) { write(st); if (flush) commit(); } },
      complete: function (st) {
        if (done) return;
        completed = true;
        set(el.status, "completed");
        write(st);
        commit();
      },
      finish: function (st) {
        if (done) return;
        write(st);
        commit();
        done = true;
        api[call("LMSFinish", "Terminate")]("");
      },
      event: function () {}
    };
  }

  function localAdapter() {
    var key = "avatarkit:" + course.id;
    var store = function (v) { try { if (v === undefined) return localStorage.getItem(key); localStorage.setItem(key, v); } catch (e) { return null; } };
    var completed = false;
    function write(st) { store(JSON.stringify({ position: st.position, state: packState(st, 0), completed: completed })); }
    return {
      name: "local",
      start: function () {
        var saved = {};
        try {
          var j = JSON.parse(store() || "null");
          if (j) { saved = unpackState(j.state); saved.position = j.position; saved.completed = completed = !!j.completed; }
        } catch (e) { saved = {}; }
        return Promise.resolve(saved);
      },
      save: write,
      complete: function (st) { completed = true; write(st); },
      finish: write,
      event: function () {}
    };
  }

  function cmi5Adapter(params) {
    var endpoint = params.get("endpoint").replace(/\/?$/, "/");
    var actor = JSON.parse(params.get("actor"));
    var registration = params.get("registration"), activityId = params.get("activityId");
    var token = "", launch = {}, started = 0, sessionId = uuid(), queue = [], busy = false, done = false, completed = false;
    var videoId = activityId.replace(/\/$/, "") + "/video";
    var headers = function () {
      return { "Authorization": "Basic " + token, "X-Experience-API-Version": "1.0.3", "Content-Type": "application/json" };
    };
    var stateUrl = function (stateId) {
      return endpoint + "activities/state?" + new URLSearchParams({
        activityId: activityId, agent: JSON.stringify(actor), registration: registration, stateId: stateId }).toString();
    };
    var xapi = function (url, opts) {
      opts.headers = headers();
      return fetch(url, opts).then(function (r) {
        if (!r.ok && r.status !== 404) throw new Error("LRS answered " + r.status + " to " + url);
        return r;
      });
    };
    function context(cmi5Category, extra) {
      var tpl = JSON.parse(JSON.stringify(launch.contextTemplate || {}));
      var ctx = Object.assign(tpl, { registration: registration });
      ctx.contextActivities = ctx.contextActivities || {};
      var cats = (ctx.contextActivities.category || []).slice();
      cats.push({ id: cmi5Category ? "https://w3id.org/xapi/cmi5/context/categories/cmi5" : "https://w3id.org/xapi/video" });
      if (cmi5Category === "moveon") cats.push({ id: "https://w3id.org/xapi/cmi5/context/categories/moveon" });
      ctx.contextActivities.category = cats;
      ctx.extensions = Object.assign(ctx.extensions || {}, extra || {});
      return ctx;
    }
    function statement(verb, display, object, ctx, result) {
      var s = { id: uuid(), actor: actor, verb: { id: verb, display: { "en-US": display } }, object: object,
                context: ctx, timestamp: new Date().toISOString() };
      if (result) s.result = result;
      return s;
    }
    function cmi5Statement(verb, result, moveon) {
      return statement("http://adlnet.gov/expapi/verbs/" + verb, verb, { objectType: "Activity", id: activityId },
                       context(moveon ? "moveon" : "cmi5"), result);
    }
    function send(list, final) {
      if (final) {   // the page is going away: one request that outlives it, in order, after any request still open
        var batch = queue.concat(list); queue = [];
        if (batch.length) fetch(endpoint + "statements", { method: "POST", headers: headers(), body: JSON.stringify(batch), keepalive: true });
        return;
      }
      queue = queue.concat(list);
      pump();
    }
    function pump() {
      if (busy || !queue.length || done) return;
      var batch = queue; queue = []; busy = true;
      xapi(endpoint + "statements", { method: "POST", body: JSON.stringify(batch) })
        .catch(function () { statusLine.textContent = T.lmsError; })
        .then(function () { busy = false; pump(); });
    }
    function putState(st, final) {
      var body = JSON.stringify({ position: st.position, state: packState(st, 0), completed: completed });
      return fetch(stateUrl(STATE_ID), { method: "PUT", headers: headers(), body: body, keepalive: !!final })
        .catch(function () { statusLine.textContent = T.lmsError; });
    }
    function videoStatement(verb, st, result) {
      var r = st.rendition, base = verb.indexOf("adlnet") >= 0 ? "" : "https://w3id.org/xapi/video/verbs/";
      var object = { objectType: "Activity", id: videoId, definition: {
        type: "https://w3id.org/xapi/video/activity-type/video", name: {} } };
      object.definition.name[r.language] = r.title;
      var ctx = context(null, {
        "https://w3id.org/xapi/video/extensions/session-id": sessionId,
        "https://w3id.org/xapi/video/extensions/length": +r.duration.toFixed(3),
        "https://w3id.org/xapi/video/extensions/completion-threshold": +st.threshold.toFixed(3),
        "https://w3id.org/xapi/video/extensions/cc-enabled": st.captions,
        "https://w3id.org/xapi/video/extensions/cc-subtitle-lang": r.language,
        "https://w3id.org/xapi/video/extensions/speed": st.speed + "x"
      });
      ctx.language = r.language;
      var display = verb.split("/").pop();
      return statement(base + verb, display, object, ctx, result);
    }
    function segments(st) {
      var d = st.rendition.duration;
      return st.watched.spans.map(function (s) { return (s[0] * d).toFixed(3) + "[.]" + (s[1] * d).toFixed(3); }).join("[,]");
    }
    var X = "https://w3id.org/xapi/video/extensions/";
    return {
      name: "cmi5",
      start: function () {
        started = performance.now();
        return fetch(params.get("fetch"), { method: "POST" })
          .then(function (r) { return r.json(); })
          .then(function (j) {
            if (!j["auth-token"]) throw new Error("cmi5 fetch URL gave no auth-token");
            token = j["auth-token"];
            return xapi(stateUrl("LMS.LaunchData"), { method: "GET" }).then(function (r) { return r.json(); });
          })
          .then(function (data) {
            launch = data || {};
            var ext = (launch.contextTemplate || {}).extensions || {};
            sessionId = ext["https://w3id.org/xapi/cmi5/context/extensions/sessionid"] || sessionId;
            send([cmi5Statement("initialized")]);
            var prefs = xapi(endpoint + "agents/profile?" + new URLSearchParams({ agent: JSON.stringify(actor), profileId: "cmi5LearnerPreferences" }),
                             { method: "GET" }).then(function (r) { return r.status === 200 ? r.json() : {}; }).catch(function () { return {}; });
            var saved = xapi(stateUrl(STATE_ID), { method: "GET" }).then(function (r) { return r.status === 200 ? r.json() : null; });
            return Promise.all([prefs, saved]);
          })
          .then(function (both) {
            var prefs = both[0] || {}, j = both[1], saved = {};
            if (j) { saved = unpackState(j.state); saved.position = j.position; saved.completed = completed = !!j.completed; }
            if (!saved.language && prefs.languagePreference) saved.preferred = String(prefs.languagePreference).split(",");
            if (launch.launchMode && launch.launchMode !== "Normal") saved.completed = completed = true;  // Browse/Review never complete
            return saved;
          });
      },
      save: function (st, flush) { if (flush && !done && token) putState(st, false); },
      complete: function (st) {
        if (completed || done) return;
        completed = true;
        var dur = isoDuration((performance.now() - started) / 1000);
        send([
          videoStatement("http://adlnet.gov/expapi/verbs/completed", st, { completion: true, duration: dur,
            extensions: { [X + "time"]: +st.position.toFixed(3), [X + "progress"]: +st.watched.share.toFixed(3), [X + "played-segments"]: segments(st) } }),
          cmi5Statement("completed", { completion: true, duration: dur }, true)
        ]);
        putState(st, false);
      },
      finish: function (st) {
        if (done || !token) return;
        var list = [];
        if (st.playing) list.push(videoStatement("paused", st, { extensions: { [X + "time"]: +st.position.toFixed(3), [X + "progress"]: +st.watched.share.toFixed(3), [X + "played-segments"]: segments(st) } }));
        list.push(cmi5Statement("terminated", { duration: isoDuration((performance.now() - started) / 1000) }));
        putState(st, true);
        send(list, true);
        done = true;
      },
      event: function (name, st, data) {
        if (done || !token) return;
        var ext = {};
        if (name === "seeked") { ext[X + "time-from"] = +data.from.toFixed(3); ext[X + "time-to"] = +data.to.toFixed(3); }
        else ext[X + "time"] = +st.position.toFixed(3);
        if (name === "paused") { ext[X + "progress"] = +st.watched.share.toFixed(3); ext[X + "played-segments"] = segments(st); }
        send([videoStatement(name, st, { extensions: ext })]);
      }
    };
  }

  function pickAdapter() {
    var params = new URLSearchParams(location.search);
    if (course.format === "cmi5" && ["endpoint", "fetch", "actor", "registration", "activityId"].every(function (k) { return params.get(k); })) {
      return cmi5Adapter(params);
    }
    if (course.format === "scorm12") { var a12 = findApi("API"); if (a12) return scormAdapter(a12, false); }
    if (course.format === "scorm2004") { var a04 = findApi("API_1484_11"); if (a04) return scormAdapter(a04, true); }
    if (course.format !== "html") statusLine.textContent = T.offline;   // opened outside an LMS: still playable
    return localAdapter();
  }

  // ---- the player --------------------------------------------------------------------------------

  var rendition = course.renditions[0];
  var watched = new Watched();
  var threshold = course.completion;
  var captions = true, completed = false, ready = false, running = false, lastT = null, seekFrom = null, lastPos = 0, dragging = false, finished = false;
  var adapter = pickAdapter();

  function duration() { return isFinite(video.duration) && video.duration > 0 ? video.duration : rendition.duration; }
  function state() {
    return { position: video.currentTime || 0, language: rendition.language, captions: captions, watched: watched,
             threshold: threshold, rendition: rendition, playing: !video.paused && !video.ended, speed: video.playbackRate };
  }

  // Count the stretch just played, unless the time jumped (a seek) or the player was not playing.
  function track(t, playing) {
    if (playing && lastT !== null && !video.seeking) {
      var d = t - lastT;
      if (d > 0 && d <= Math.max(1.5, 1.5 * video.playbackRate)) watched.add(lastT / duration(), t / duration());
    }
    lastT = t;
    if (ready && !completed && watched.share >= threshold - 1e-6) {
      completed = true;
      statusLine.textContent = T.completed;
      adapter.complete(state());
    }
  }

  function showTracks() {
    Array.from(video.textTracks).forEach(function (tt) {
      tt.mode = captions && tt.language === rendition.language ? "showing" : "disabled";
    });
    ccBtn.setAttribute("aria-pressed", String(captions));
  }

  function updateTime() {
    var t = video.currentTime || 0, d = duration();
    $("ak-time").textContent = clock(t) + " / " + clock(d);
    seek.max = String(Math.ceil(d));
    if (!dragging) seek.value = String(t);
    seek.setAttribute("aria-valuetext", clock(t) + " " + T.of + " " + clock(d));
  }

  function applyDirection() {
    document.documentElement.lang = rendition.language;
    document.documentElement.dir = rendition.dir;
    $("ak-title").textContent = rendition.title;
    document.title = rendition.title;
    // Content Credentials: the packager checked each video's C2PA manifest; say so only for one that held.
    var cred = $("ak-cred");
    if (cred) cred.hidden = !(rendition.credentials && rendition.credentials.verified);
  }

  // Switch language at the same point of the course (as a share of the video, since translations differ in length).
  function setLanguage(lang, at) {
    var next = course.renditions.find(function (r) { return r.language === lang; });
    if (!next) return;
    var share = at !== undefined ? at : (video.currentTime || 0) / duration();
    var wasPlaying = !video.paused && !video.ended;
    var move = at !== undefined || next !== rendition;
    if (next !== rendition) {
      rendition = next;
      lastT = null;
      video.poster = next.poster || "";
      video.src = next.video;
      video.load();
    }
    langSel.value = next.language;
    applyDirection();
    showTracks();
    var go = function () {
      video.currentTime = Math.min(share * duration(), Math.max(0, duration() - 0.5));
      lastT = null;
      if (wasPlaying) video.play().catch(function () {});
      updateTime();
    };
    if (!move) return;
    if (video.readyState >= 1) go(); else video.addEventListener("loadedmetadata", go, { once: true });
  }

  function togglePlay() { if (video.paused || video.ended) video.play().catch(function () {}); else video.pause(); }
  function skip(s) { video.currentTime = Math.max(0, Math.min(duration(), (video.currentTime || 0) + s)); }
  function toggleCaptions() { captions = !captions; showTracks(); }
  function toggleMute() { video.muted = !video.muted; }
  function toggleFull() {
    if (document.fullscreenElement) document.exitFullscreen().catch(function () {});
    else if (stage.requestFullscreen) stage.requestFullscreen().catch(function () {});
  }

  // `running` is our own flag: the browser marks the video paused before the last timeupdate of a stretch arrives.
  video.addEventListener("play", function () { running = true; lastT = video.currentTime; adapter.event("played", state()); });
  video.addEventListener("playing", function () { stage.classList.add("ak-playing"); playBtn.setAttribute("aria-label", T.pause); });
  video.addEventListener("pause", function () {
    track(video.currentTime, running);
    running = false;
    stage.classList.remove("ak-playing");
    playBtn.setAttribute("aria-label", T.play);
    if (!finished) { adapter.event("paused", state()); adapter.save(state(), true); }
  });
  video.addEventListener("timeupdate", function () {
    track(video.currentTime, running);
    if (!video.seeking) lastPos = video.currentTime;
    updateTime();
  });
  video.addEventListener("seeking", function () { if (seekFrom === null) seekFrom = lastPos; lastT = null; });
  video.addEventListener("seeked", function () {
    var to = video.currentTime;
    if (seekFrom !== null && Math.abs(to - seekFrom) > 0.05) adapter.event("seeked", state(), { from: seekFrom, to: to });
    seekFrom = null; lastPos = to; lastT = running ? to : null;
  });
  video.addEventListener("volumechange", function () {
    muteBtn.setAttribute("aria-pressed", String(video.muted));
    muteBtn.setAttribute("aria-label", video.muted ? T.unmute : T.mute);
  });
  video.addEventListener("loadedmetadata", updateTime);
  video.addEventListener("ended", function () { track(duration(), true); });   // the last tick may stop short of the end

  playBtn.addEventListener("click", togglePlay);
  $("ak-back").addEventListener("click", function () { skip(-10); });
  $("ak-fwd").addEventListener("click", function () { skip(10); });
  muteBtn.addEventListener("click", toggleMute);
  ccBtn.addEventListener("click", toggleCaptions);
  $("ak-full").addEventListener("click", toggleFull);
  langSel.addEventListener("change", function () { setLanguage(langSel.value); });
  seek.addEventListener("pointerdown", function () { dragging = true; });
  seek.addEventListener("pointerup", function () { dragging = false; });
  seek.addEventListener("input", function () { video.currentTime = parseFloat(seek.value); updateTime(); });
  video.addEventListener("click", togglePlay);

  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var tag = e.target && e.target.tagName, key = e.key;
    if (tag === "SELECT" || tag === "TEXTAREA") return;                       // letters pick options there
    if (tag === "INPUT" && /^(Arrow|Home|End|Page)/.test(key)) return;         // the slider moves itself
    if (tag === "BUTTON" && (key === " " || key === "Enter")) return;          // Space presses the focused button
    var act = { " ": togglePlay, k: togglePlay, arrowleft: function () { skip(-5); }, arrowright: function () { skip(5); },
                j: function () { skip(-10); }, l: function () { skip(10); }, c: toggleCaptions, m: toggleMute, f: toggleFull }[key.toLowerCase()];
    if (act) { e.preventDefault(); act(); }
  });

  function finish() {
    if (finished) return;
    track(video.currentTime, running);
    finished = true;
    adapter.finish(state());
  }
  window.addEventListener("pagehide", finish);
  window.addEventListener("beforeunload", finish);
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") adapter.save(state(), true); });
  setInterval(function () { if (!finished) adapter.save(state(), true); }, 30000);

  // Opened from a folder (file:), the browser refuses to load caption files; the html package embeds them for that case.
  function parseVtt(text) {
    var sec = function (t) { return t.split(":").reduce(function (n, x) { return n * 60 + parseFloat(x); }, 0); };
    return text.replace(/\r\n?/g, "\n").split(/\n{2,}/).map(function (block) {
      var lines = block.split("\n"), i = lines.findIndex(function (l) { return l.indexOf("-->") >= 0; });
      var m = i >= 0 && /^\s*([\d:.]+)\s+-->\s+([\d:.]+)/.exec(lines[i]);
      return m ? new VTTCue(sec(m[1]), sec(m[2]), lines.slice(i + 1).join("\n")) : null;
    }).filter(Boolean);
  }
  Array.from(video.querySelectorAll("track")).forEach(function (el) {
    var embed = function () {
      var src = document.getElementById("ak-vtt-" + el.srclang);
      if (src && window.VTTCue) parseVtt(src.textContent.replace(/<\\\//g, "</")).forEach(function (c) { el.track.addCue(c); });
    };
    if (el.readyState === 3) embed(); else el.addEventListener("error", embed);
  });

  // Custom controls replace the native ones only once the script runs; without it the video still plays.
  video.controls = false;
  $("ak-controls").hidden = false;
  showTracks();
  updateTime();

  adapter.start().then(function (saved) {
    saved = saved || {};
    if (saved.threshold !== undefined) threshold = saved.threshold;
    if (saved.watched) saved.watched.spans.forEach(function (s) { watched.add(s[0], s[1]); });
    if (saved.captions !== undefined) captions = saved.captions;
    completed = !!saved.completed;
    ready = true;
    var has = function (l) { return course.renditions.find(function (r) { return r.language === l; }); };
    var from = has(saved.language);
    // A saved language first, then the learner's preferred ones (cmi5), then the default.
    var lang = from ? from.language : (saved.preferred || []).map(function (p) { return p.trim(); }).find(has);
    var at = saved.position > 0 ? saved.position / (from || rendition).duration : undefined;
    setLanguage(lang || rendition.language, at);
    if (at !== undefined) statusLine.textContent = T.resumed + " " + clock(saved.position) + ".";
    if (completed) statusLine.textContent = T.completed;
    else track(video.currentTime, false);   // a zero threshold completes at once
  }).catch(function (err) {
    statusLine.textContent = T.lmsError;
    if (window.console) console.error(err);
  });

  window.avatarkitPlayer = { state: state, setLanguage: setLanguage, adapter: function () { return adapter.name; } };
})();
