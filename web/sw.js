// Service worker: keeps a copy of the app so it opens with the network off.
// Network first (a deployed update is seen as soon as one is online), the
// cached copy when the network fails. Models the user saves live in the
// origin-private file system (see worker.js), not here.
const CACHE = 'webquant-app-v6';
const SHELL = [
  './', 'index.html', 'teach.html', 'app.js', 'teach.js', 'teach-qat.js', 'teach-plot.js', 'client.js', 'worker.js', 'features.js', 'model-files.js',
  'dom.js', 'format.js', 'job.js', 'parse.js', 'report.js', 'state.js',
  'views/compare.js', 'views/import.js', 'views/model.js', 'views/quantize.js', 'views/saved.js',
  'style.css', 'favicon.svg', 'vendor/uPlot.esm.js', 'vendor/uPlot.min.css',
  'models/stories260K.gguf', 'texts/tinyshakespeare-10k.txt',
];
// The wasm builds: each lists its files (scripts/build-web.mjs writes it).
const VARIANTS = ['threads', 'simd', 'plain'];

async function install() {
  const c = await caches.open(CACHE);
  const lists = await Promise.all(
    VARIANTS.map(async (v) => {
      const res = await fetch(`pkg/${v}/files.json`);
      if (!res.ok) throw new Error(`pkg/${v}/files.json: HTTP ${res.status}`);
      return (await res.json()).map((f) => `pkg/${v}/${f}`);
    }),
  );
  await c.addAll([...SHELL, ...lists.flat()]);
}

self.addEventListener('install', (e) => {
  e.waitUntil(install().then(() => self.skipWaiting()));
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
