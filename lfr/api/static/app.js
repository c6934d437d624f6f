// The officer app: sign in, zone state, live alerts (server-sent events relayed from MQTT),
// side-by-side images, acknowledge / adjudicate / engage. No framework, no build step.
const $ = (sel, root = document) => root.querySelector(sel);
const state = { token: localStorage.getItem("lfr.token"), me: null, cards: new Map(), stream: null };

async function api(path, opts = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, ...(opts.headers || {}) };
  if (opts.body && typeof opts.body !== "string") {
    headers["Content-Type"] = "application/json";
    opts = { ...opts, body: JSON.stringify(opts.body) };
  }
  const resp = await fetch(path, { ...opts, headers });
  if (resp.status === 401) { signOut("Your sign-in expired or was refused: sign in again."); throw new Error("401"); }
  if (!resp.ok) {
    let detail = resp.statusText;
    try { const j = await resp.json(); detail = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail); } catch {}
    throw new Error(detail);
  }
  return resp.status === 204 ? null : resp;
}

function signOut(message = "") {
  localStorage.removeItem("lfr.token");
  state.token = null;
  if (state.stream) state.stream.abort();
  $("#main").hidden = true;
  $("#signin").hidden = false;
  $("#signin-error").textContent = message;
  $("#who").textContent = "";
}

async function signIn(token) {
  state.token = token.trim();
  const me = await (await api("/api/me")).json();
  if (me.role !== "officer" && me.role !== "supervisor") throw new Error(`role ${me.role} has no alerts to see here`);
  localStorage.setItem("lfr.token", state.token);
  state.me = me;
  $("#who").textContent = `${me.name}${me.patrol_id ? " · " + me.patrol_id : ""}`;
  $("#signin").hidden = true;
  $("#main").hidden = false;
  await Promise.all([loadZones(), loadAlerts()]);
  if (me.role === "officer") openStream();
}

function showZone(z) {
  const el = $("#zone");
  el.className = `zone ${z.armed ? "armed" : "disarmed"}`;
  const why = String(z.reason).replaceAll("_", " ");
  $("#zone-text").textContent = `${z.zone}: ${z.armed ? "ARMED" : "not armed"} (${why})`;
}

async function loadZones() {
  const zones = await (await api("/api/zones")).json();
  const mine = zones.find((z) => z.zone === state.me.zone) || zones[0];
  if (mine) showZone(mine);
}

async function loadAlerts() {
  const alerts = await (await api("/api/alerts")).json();
  for (const a of alerts.reverse()) render(a, false);
}

async function loadImage(img, url) {
  if (!url || img.dataset.src === url) return;
  img.dataset.src = url;
  try {
    const blob = await (await api(url)).blob();
    img.src = URL.createObjectURL(blob);
  } catch (e) { img.alt = `${img.alt}: ${e.message}`; }
}

// who the alert is about; once retention erased it, when that happened
function subject(a) {
  if (a.subject_label) return a.subject_label;
  return a.erased_at ? `(erased ${new Date(a.erased_at).toLocaleDateString()})` : "(erased)";
}

function render(a, fresh = true) {
  let li = state.cards.get(a.alert_id);
  if (!li) {
    li = $("#card").content.firstElementChild.cloneNode(true);
    li.dataset.alertId = a.alert_id;
    li.setAttribute("aria-label", `Alert: ${subject(a)}`);
    $("#alerts").prepend(li);
    state.cards.set(a.alert_id, li);
    wire(li, a.alert_id);
    if (fresh) { li.classList.add("fresh"); li.focus(); }
  }
  $("#empty").hidden = true;
  $(".label", li).textContent = subject(a);
  $(".status", li).textContent = a.status;
  $(".similarity", li).textContent = a.similarity.toFixed(3);
  $(".threshold", li).textContent = a.threshold.toFixed(2);
  $(".camera", li).textContent = `${a.camera} (${a.zone})`;
  const t = new Date(a.frame_at);
  $(".time", li).dateTime = a.frame_at;
  $(".time", li).textContent = t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  $(".category", li).textContent = a.category.replaceAll("_", " ");
  loadImage($(".reference", li), a.reference_url);
  loadImage($(".crop", li), a.crop_url);
  const me = state.me.name;
  const confirmed = a.confirmed_by || [];
  $(".verifiers", li).textContent = confirmed.length
    ? `Confirmed by: ${confirmed.join(", ")}${confirmed.length < 2 ? " (a second officer must confirm)" : ""}`
    : (a.false_alert_by.length ? `Called false by: ${a.false_alert_by.join(", ")}` : "");
  const officer = state.me.role === "officer";
  $(".ack", li).disabled = !officer || a.acknowledged_by.includes(me);
  const judged = confirmed.includes(me) || a.false_alert_by.includes(me);
  $(".confirm", li).disabled = !officer || judged || a.status === "engaged";
  $(".false", li).disabled = !officer || judged || a.status === "engaged";
  $(".engage", li).hidden = !(officer && new Set(confirmed).size >= 2 && a.status !== "engaged");
  if (a.status === "engaged") $(".verifiers", li).textContent =
    `Engagement recorded by ${a.engagement_officer} (${String(a.engagement_outcome).replaceAll("_", " ")}); confirmed by ${confirmed.join(" and ")}`;
}

function wire(li, id) {
  const act = async (path, body) => {
    $(".error", li).textContent = "";
    try { render(await (await api(`/api/alerts/${id}/${path}`, { method: "POST", body })).json()); }
    catch (e) { $(".error", li).textContent = e.message; }
  };
  $(".ack", li).addEventListener("click", () => act("acknowledge", {}));
  $(".confirm", li).addEventListener("click", () => act("adjudicate", { verdict: "confirmed" }));
  $(".false", li).addEventListener("click", () => act("adjudicate", { verdict: "false_alert" }));
  $(".record", li).addEventListener("click", () => act("engagement", { outcome: $(".outcome", li).value }));
}

async function refreshAlert(id) {
  try { render(await (await api(`/api/alerts/${id}`)).json(), !state.cards.has(id)); } catch {}
}

function fromMessage(m) {
  // an alert straight from MQTT: show it at once, then read its full state from the API
  return { ...m, status: "raised", patrol_ids: [m.patrol_id], acknowledged_by: [], confirmed_by: [],
    false_alert_by: [], engagement_officer: null, engagement_outcome: null };
}

function handle(type, data) {
  const msg = JSON.parse(data);
  if (type === "zone_state") showZone(msg);
  else if (type === "alert") {
    if (!state.cards.has(msg.alert_id)) render(fromMessage(msg));
    refreshAlert(msg.alert_id);
  } else if (type === "alert_update") refreshAlert(msg.alert_id);
}

async function openStream() {
  if (state.stream) state.stream.abort();
  const ctrl = new AbortController();
  state.stream = ctrl;
  const live = $("#live");
  while (!ctrl.signal.aborted) {
    try {
      const resp = await fetch("/api/alerts/stream", { headers: { Authorization: `Bearer ${state.token}` }, signal: ctrl.signal });
      if (!resp.ok) throw new Error(resp.statusText);
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i); buf = buf.slice(i + 2);
          let type = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) type = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (type === "ready") { live.textContent = "live"; live.className = "live on"; document.body.dataset.live = "1"; loadAlerts(); }
          else if (data) handle(type, data);
        }
      }
    } catch (e) { if (ctrl.signal.aborted) return; }
    live.textContent = "reconnecting"; live.className = "live off"; delete document.body.dataset.live;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function enableNotifications() {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) throw new Error("this browser has no Web Push");
  const reg = await navigator.serviceWorker.ready;
  if ((await Notification.requestPermission()) !== "granted") throw new Error("notifications were not allowed");
  const { public_key } = await (await api("/api/push/vapid-public-key")).json();
  const key = Uint8Array.from(atob(public_key.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  await api("/api/push/subscriptions", { method: "POST", body: sub.toJSON() });
}

$("#signin").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#signin-error").textContent = "";
  try { await signIn($("#token").value); } catch (e) { if (e.message !== "401") $("#signin-error").textContent = e.message; }
});
$("#signout").addEventListener("click", () => signOut());
$("#notify").addEventListener("click", async () => {
  try { await enableNotifications(); $("#notify").textContent = "Notifications on"; $("#notify").disabled = true; }
  catch (e) { $("#notify").textContent = `Notifications: ${e.message}`; }
});
if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js", { scope: "/app/" }).catch(() => {});
if (state.token) signIn(state.token).catch(() => {});
