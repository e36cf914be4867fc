// Service worker: keeps a copy of the app so it opens with the network off.
// Network first (a deployed update is seen as soon as one is online), the
// cached copy when the network fails. Models the user saves live in the
// origin-private file system (see worker.js), not here.
const CACHE = 'webquant-app-v5';
const SHELL = [
  './', 'index.html', 'teach.html', 'app.js', 'teach.js', 'teach-qat.js', 'teach-plot.js', 'client.js', 'worker.js', 'features.js', 'model-files.js',
  'dom.js', 'format.js', 'job.js', 'parse.js', 'report.js', 'state.js',
  'views/compare.js', 'views/import.js', 'views/model.js', 'views/quantize.js', 'views/saved.js',
  'style.css', 'favicon.svg', 'vendor/uPlot.esm.js', 'vendor/uPlot.min.css',
  'pkg/simd/webquant.js', 'pkg/simd/webquant_bg.wasm', 'pkg/plain/webquant.js', 'pkg/plain/webquant_bg.wasm',
  'models/stories260K.gguf', 'texts/tinyshakespeare-10k.txt',
];

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (e) => {
  e.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== location.origin) return;
  e.respondWith(
    fetch(e.request)
      .then((res) => {
        if (res.ok) {
          const copy = res.clone();
          caches.open(CACHE).then((c) => c.put(e.request, copy));
        }
        return res;
      })
      .catch(async () => (await caches.match(e.request, { ignoreSearch: true })) ?? Response.error()),
  );
});
