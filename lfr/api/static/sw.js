// Service worker: keeps the app shell offline-capable and shows Web Push alerts when the app
// is in the background. API responses (alerts, images) are never cached: images of people
// must expire with their retention, not live on in a cache.
const SHELL = "lfr-shell-v1";
const FILES = ["./", "index.html", "app.js", "app.css", "manifest.webmanifest", "icon-192.png", "icon-512.png"];

self.addEventListener("install", (ev) => {
  ev.waitUntil(caches.open(SHELL).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (ev) => {
  ev.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== SHELL).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});
self.addEventListener("fetch", (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== "GET" || !url.pathname.startsWith("/app/")) return;
  ev.respondWith(fetch(ev.request).catch(() => caches.match(ev.request)));
});
self.addEventListener("push", (ev) => {
  let data = {};
  try { data = ev.data ? ev.data.json() : {}; } catch {}
  ev.waitUntil(self.registration.showNotification(data.title || "LFR alert", {
    body: data.body || "", tag: data.alert_id || "lfr", renotify: true, requireInteraction: true,
    icon: "icon-192.png", data: { url: data.url || "/app/" },
  }));
});
self.addEventListener("notificationclick", (ev) => {
  ev.notification.close();
  ev.waitUntil(self.clients.matchAll({ type: "window" }).then((wins) => {
    for (const w of wins) if (w.url.includes("/app/")) return w.focus();
    return self.clients.openWindow(ev.notification.data.url);
  }));
});
