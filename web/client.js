// The page's side of the worker protocol (worker.js documents it).

export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

export class WorkerClient {
  constructor(url) {
    this.worker = new Worker(url, { type: 'module' });
    this.nextId = 1;
    this.pending = new Map();
    this.worker.onmessage = (e) => this.#onMessage(e.data);
    // A worker that fails to load or throws outside a request fails every
    // pending request, so no caller waits forever.
    this.worker.onerror = (e) => {
      e.preventDefault();
      const err = new Error(`worker error: ${e.message || 'the worker failed to start'}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
  }

  /**
   * Start a request. Returns {promise, cancel}; `onProgress({done, total, label, ...})`
   * is called as the worker reports progress (some requests add fields, as
   * compareGenerate's `{side, token}`).
   */
  request(method, params = {}, { onProgress } = {}) {
    const id = this.nextId++;
    const promise = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
    });
    this.worker.postMessage({ id, method, params });
    return { id, promise, cancel: () => this.worker.postMessage({ cancel: id }) };
  }

  call(method, params, opts) {
    return this.request(method, params, opts).promise;
  }

  #onMessage(msg) {
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.progress) {
      p.onProgress?.(msg.progress);
      return;
    }
    this.pending.delete(msg.id);
    if (msg.error) p.reject(msg.error.cancelled ? new CancelledError() : new Error(msg.error.message));
    else p.resolve(msg.result);
  }
}
