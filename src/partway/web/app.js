// partway's browser uploader: the Apideck upload-session API from a page, with parallel parts,
// CRC32C digests (the fastest the server offers; Web Crypto SHA-1 for servers that offer no
// CRC), retries, pause/resume/cancel and resume across reloads. Like `partway upload`, it asks
// for direct mode where the server offers it (`x-partway-upload-mode: auto`): a session that
// answers `upload_mode: "direct"` has its parts PUT to the signed URL partway hands out for
// each (straight into S3 or Azure, or partway's own /signed/parts on local disk), never with
// the API key.
import { mount as mountCatalog, rowActions } from "./catalog.js";
import { crc32c, crc32cCombine, crc32cHeader } from "./crc32c.js";

const PARALLEL = 4;
const RETRIES = 6;
const CREDS_KEY = "partway.credentials";
const RECORD_PREFIX = "partway.upload.";
const $ = (id) => document.getElementById(id);

// ---------- API ----------

class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.typeName = body?.type_name || "";
  }
}

function creds() {
  return JSON.parse(sessionStorage.getItem(CREDS_KEY) || "null");
}

function headers(extra = {}) {
  const c = creds();
  return {
    Authorization: `Bearer ${c.apiKey}`,
    "x-apideck-app-id": c.appId,
    "x-apideck-consumer-id": c.consumerId,
    ...extra,
  };
}

function url(path) {
  return (creds()?.server || "").replace(/\/$/, "") + path;
}

async function api(method, path, body, extra = {}) {
  const init = { method, headers: headers(extra) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  const res = await fetch(url(path), init);
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

const transient = (status) => status === 0 || status === 408 || status === 429 || status >= 500;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function backoff(attempt, retryAfter) {
  if (retryAfter && /^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
  const ceiling = Math.min(30000, 500 * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

// One part over XMLHttpRequest (fetch reports no upload progress).
function putPart(upload, number, buffer, digest, onProgress) {
  const target = url(`/file-storage/upload-sessions/${upload.sessionId}?part_number=${number}`);
  const extra = { "content-type": "application/octet-stream", ...(digest ? { digest } : {}) };
  return sendBytes(upload, target, headers(extra), buffer, onProgress);
}

// A direct part: PUT to the URL partway signed, with only the headers it names (no API key:
// the URL is the credential, and it may point at the object store).
function putDirect(upload, ticket, buffer, onProgress) {
  const target = ticket.url.startsWith("/") ? url(ticket.url) : ticket.url;
  return sendBytes(upload, target, ticket.headers || {}, buffer, onProgress);
}

function sendBytes(upload, target, sent, buffer, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    upload.requests.add(xhr);
    xhr.open("PUT", target);
    for (const [k, v] of Object.entries(sent)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      upload.requests.delete(xhr);
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else reject(Object.assign(new ApiError(xhr.status, body), { retryAfter: xhr.getResponseHeader("retry-after") }));
    };
    xhr.onerror = () => { upload.requests.delete(xhr); reject(new ApiError(0, { message: "connection lost" })); };
    xhr.onabort = () => { upload.requests.delete(xhr); reject(new DOMException("paused", "AbortError")); };
    xhr.send(buffer);
  });
}

async function sha1Header(buffer) {
  if (!crypto.subtle) return null; // only in secure contexts (https or localhost)
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", buffer));
  return "sha=" + btoa(String.fromCharCode(...digest));
}

// ---------- uploads ----------

const uploads = [];

function recordKey(file) {
  const c = creds();
  return RECORD_PREFIX + [c.appId, c.consumerId, state.driveId, state.folderId, file.name, file.size, file.lastModified].join("|");
}

// Resume records live in IndexedDB: a transaction is committed when it completes, so a reload
// right after a create still finds the record (localStorage commits lazily and may lose it).
const database = new Promise((resolve, reject) => {
  const open = indexedDB.open("partway", 1);
  open.onupgradeneeded = () => open.result.createObjectStore("uploads");
  open.onsuccess = () => resolve(open.result);
  open.onerror = () => reject(open.error);
});

async function records(mode, work) {
  const db = await database;
  return new Promise((resolve, reject) => {
    const tx = db.transaction("uploads", mode);
    const request = work(tx.objectStore("uploads"));
    tx.oncomplete = () => resolve(request.result);
    tx.onerror = () => reject(tx.error);
  });
}

const loadRecord = (key) => records("readonly", (s) => s.get(key));
const saveRecord = (key, record) => records("readwrite", (s) => s.put(record, key));
const dropRecord = (key) => records("readwrite", (s) => s.delete(key));
const allRecords = () => records("readonly", (s) => s.getAll());

class Upload {
  constructor(file) {
    this.file = file;
    this.key = recordKey(file);
    this.folderId = state.folderId;
    this.driveId = state.driveId;
    this.sessionId = null;
    this.partSize = 0;
    this.total = file.size;
    this.done = new Set();
    this.inFlight = new Map(); // part number → bytes sent so far
    this.requests = new Set();
    this.status = "starting";
    this.paused = false;
    this.started = performance.now();
    this.baseline = 0;
    this.view = renderUpload(this);
  }

  get partsTotal() { return Math.max(1, Math.ceil(this.total / this.partSize)); }
  partLength(n) { return Math.max(0, Math.min(this.partSize, this.total - n * this.partSize)); }
  get sentBytes() {
    let sum = 0;
    for (const n of this.done) sum += this.partLength(n);
    for (const b of this.inFlight.values()) sum += b;
    return sum;
  }

  // Each start() is a new run; workers of an older (paused) run stop at their next step.
  stale(run) { return run !== this.run || this.paused || this.status === "cancelled"; }

  async start() {
    const run = (this.run = (this.run || 0) + 1);
    try {
      const finishedFile = await this.openSession();
      if (finishedFile) {
        this.setStatus("done", `done: file ${finishedFile} (finished earlier)`);
        return refreshFiles();
      }
      await this.sendParts(run);
      if (this.stale(run)) return;
      this.setStatus("finishing");
      const whole = await this.wholeDigest(run);
      if (this.stale(run)) return;
      const res = await withRetries(() => api("POST", `/file-storage/upload-sessions/${this.sessionId}/finish`,
        undefined, whole ? { digest: whole } : {}));
      await dropRecord(this.key);
      this.setStatus("done", `done: file ${res.data.id}`);
      refreshFiles();
      showResumable();
    } catch (err) {
      if (err.name === "AbortError" || this.status === "cancelled") return;
      this.setStatus("failed", `failed: ${err.message}`);
    }
  }

  async openSession() {
    let record = await loadRecord(this.key);
    if (record?.sessionId) {
      try {
        const s = (await api("GET", `/file-storage/upload-sessions/${record.sessionId}`)).data;
        if (s.success) {
          // Another tab (or this page before a reload) finished it: the file is there.
          await dropRecord(this.key);
          this.partSize = s.part_size;
          this.done = new Set(s.uploaded_parts || []);
          return s.file_id;
        }
        this.useSession(s, true);
        return null;
      } catch (err) {
        if (err.status !== 404) throw err;
        await dropRecord(this.key);
        record = null;
      }
    }
    // The idempotency key is saved first: a create whose answer is lost is found again.
    record = record || { idempotencyKey: crypto.randomUUID(), name: this.file.name, size: this.file.size };
    await saveRecord(this.key, record);
    const created = await withRetries(() => api("POST", "/file-storage/upload-sessions",
      { name: this.file.name, parent_folder_id: this.folderId, size: this.file.size, drive_id: this.driveId },
      { "idempotency-key": record.idempotencyKey, "x-partway-upload-mode": "auto" }));
    record.sessionId = created.data.id;
    await saveRecord(this.key, record);
    const s = (await api("GET", `/file-storage/upload-sessions/${record.sessionId}`)).data;
    this.useSession(s, false);
    return null;
  }

  useSession(session, resumed) {
    // The first offered algorithm this page computes; a server that names none takes SHA-1.
    this.algorithm = (session.digest_algorithms || []).find((a) => a === "crc32c" || a === "sha") || "sha";
    this.crcs = new Map();
    this.sessionId = session.id;
    this.partSize = session.part_size;
    this.done = new Set(session.uploaded_parts || []);
    // Direct: the parts still needed are those the session hands out URLs for (on S3 and Azure
    // the store holds parts partway has not recorded yet).
    this.direct = session.upload_mode === "direct";
    if (this.direct) {
      const needed = new Set((session.direct_parts || []).map((p) => p.part_number));
      this.done = new Set();
      for (let n = 0; n < this.partsTotal; n++) if (!needed.has(n)) this.done.add(n);
    }
    this.baseline = this.sentBytes;
    this.started = performance.now();
    this.resumed = resumed ? this.done.size : 0;
    $("part-size-info").textContent = formatBytes(this.partSize);
    this.view.dataset.mode = this.direct ? "direct" : "proxied";
    this.setStatus("uploading", resumed ? `resumed: ${this.done.size} part(s) already there` : "uploading");
  }

  async sendParts(run) {
    const queue = [];
    for (let n = 0; n < this.partsTotal; n++) if (!this.done.has(n)) queue.push(n);
    const worker = async () => {
      while (queue.length && !this.stale(run)) {
        const n = queue.shift();
        await this.sendPart(n, run);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, queue.length) }, worker));
  }

  async sendPart(n, run) {
    const start = n * this.partSize;
    const buffer = await this.file.slice(start, start + this.partLength(n)).arrayBuffer();
    let digest;
    if (this.algorithm === "crc32c") {
      const crc = crc32c(new Uint8Array(buffer));
      this.crcs.set(n, crc);
      digest = crc32cHeader(crc);
    } else if (!this.direct) {
      digest = await sha1Header(buffer);
    }
    const progress = (loaded) => { this.inFlight.set(n, loaded); update(this); };
    await withRetries(async () => {
      this.inFlight.set(n, 0);
      try {
        if (this.direct) {
          // A fresh URL per try, bound to the part's CRC32C (checked by partway on local disk,
          // and at finish where the store reports it).
          const claim = { part_number: n, ...(digest ? { crc32c: digest.slice("crc32c=".length) } : {}) };
          const res = await api("POST", `/file-storage/upload-sessions/${this.sessionId}/direct`, { parts: [claim] });
          await putDirect(this, res.data.parts[0], buffer, progress);
        } else {
          await putPart(this, n, buffer, digest, progress);
        }
      } finally {
        this.inFlight.delete(n);
      }
    }, () => this.stale(run));
    this.done.add(n);
    update(this);
  }

  // The file's CRC32C combined from its parts' (parts sent before a reload are read again,
  // only those); null with SHA-1, whose whole-file digest would need a second read.
  async wholeDigest(run) {
    if (this.algorithm !== "crc32c") return null;
    let whole = 0;
    for (let n = 0; n < this.partsTotal && !this.stale(run); n++) {
      if (!this.crcs.has(n)) {
        const start = n * this.partSize;
        const buffer = await this.file.slice(start, start + this.partLength(n)).arrayBuffer();
        this.crcs.set(n, crc32c(new Uint8Array(buffer)));
      }
      whole = crc32cCombine(whole, this.crcs.get(n), this.partLength(n));
    }
    return crc32cHeader(whole);
  }

  pause() {
    this.paused = true;
    for (const xhr of this.requests) xhr.abort();
    this.setStatus("paused", "paused");
  }

  resume() {
    this.paused = false;
    this.start();
  }

  async cancel() {
    this.status = "cancelled";
    for (const xhr of this.requests) xhr.abort();
    await dropRecord(this.key);
    if (this.sessionId) {
      try { await api("DELETE", `/file-storage/upload-sessions/${this.sessionId}`); }
      catch (err) { if (err.status !== 404) return this.setStatus("failed", `cancel failed: ${err.message}`); }
    }
    this.setStatus("cancelled", "cancelled; the server dropped its parts");
    showResumable();
  }

  setStatus(status, text) {
    if (this.status !== "cancelled" || status === "cancelled") this.status = status;
    this.statusText = text || status;
    update(this);
  }
}

async function withRetries(work, stop = () => false) {
  for (let attempt = 0; ; attempt++) {
    if (stop()) throw new DOMException("stopped", "AbortError");
    try {
      return await work();
    } catch (err) {
      if (err.name === "AbortError" || stop() || !(err instanceof ApiError) || !transient(err.status) || attempt >= RETRIES) throw err;
      await sleep(backoff(attempt, err.retryAfter));
    }
  }
}

// ---------- rendering ----------

function formatBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function renderUpload(upload) {
  const li = document.createElement("li");
  li.innerHTML = `
    <div class="row"><strong class="name"></strong><span class="status"></span></div>
    <progress max="1" value="0"></progress>
    <div class="row"><span class="stats"></span><span>
      <button type="button" class="pause">Pause</button>
      <button type="button" class="cancel">Cancel</button></span></div>`;
  li.querySelector(".name").textContent = upload.file.name;
  li.querySelector(".pause").onclick = () => (upload.paused ? upload.resume() : upload.pause());
  li.querySelector(".cancel").onclick = () => upload.cancel();
  li.dataset.name = upload.file.name;
  $("uploads").prepend(li);
  return li;
}

function update(upload) {
  const v = upload.view;
  const sent = upload.partSize ? upload.sentBytes : 0;
  const elapsed = (performance.now() - upload.started) / 1000;
  const rate = elapsed > 0.2 ? (sent - upload.baseline) / elapsed : 0;
  const eta = rate > 0 ? Math.ceil((upload.total - sent) / rate) + " s" : "–";
  v.querySelector("progress").value = upload.total ? sent / upload.total : (upload.status === "done" ? 1 : 0);
  const parts = upload.partSize ? `${upload.done.size}/${upload.partsTotal} parts` : "";
  v.querySelector(".stats").textContent =
    `${formatBytes(sent)} of ${formatBytes(upload.total)} · ${formatBytes(rate)}/s · ETA ${eta} · ${parts}`;
  const status = v.querySelector(".status");
  status.textContent = upload.statusText || upload.status;
  status.className = `status ${upload.status}`;
  v.dataset.status = upload.status;
  v.querySelector(".pause").textContent = upload.paused ? "Resume" : "Pause";
  const finished = ["done", "cancelled", "failed"].includes(upload.status);
  v.querySelector(".pause").disabled = finished;
  v.querySelector(".cancel").disabled = finished;
  updateOverall();
}

function updateOverall() {
  const active = uploads.filter((u) => u.status !== "cancelled");
  const total = active.reduce((s, u) => s + u.total, 0);
  const sent = active.reduce((s, u) => s + (u.partSize ? u.sentBytes : 0), 0);
  $("overall").hidden = uploads.length === 0;
  $("overall-bar").value = total ? sent / total : 1;
  const running = active.filter((u) => !["done", "failed"].includes(u.status)).length;
  $("overall-text").textContent = `${formatBytes(sent)} of ${formatBytes(total)} · ${running} running`;
}

async function showResumable() {
  const items = await allRecords();
  const running = new Set(uploads.filter((u) => !["done", "cancelled", "failed"].includes(u.status)).map((u) => u.file.name));
  const list = $("resumable-list");
  list.innerHTML = "";
  for (const r of items.filter((r) => !running.has(r.name))) {
    const li = document.createElement("li");
    li.textContent = `${r.name} (${formatBytes(r.size)})`;
    list.append(li);
  }
  $("resumable").hidden = list.children.length === 0;
}

// ---------- folders and files ----------

const state = { driveId: "default", folderId: "root", trail: [{ id: "root", name: "root" }] };

function renderBreadcrumbs() {
  const nav = $("breadcrumbs");
  nav.innerHTML = "";
  state.trail.forEach((f, i) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = f.name;
    b.onclick = () => { state.trail = state.trail.slice(0, i + 1); openFolder(f.id); };
    nav.append(b);
    if (i < state.trail.length - 1) nav.append(" / ");
  });
}

function openFolder(id) {
  state.folderId = id;
  renderBreadcrumbs();
  refreshFiles();
}

async function refreshFiles() {
  const body = $("files").querySelector("tbody");
  $("files-error").textContent = "";
  try {
    const where = `filter[folder_id]=${encodeURIComponent(state.folderId)}&filter[drive_id]=${encodeURIComponent(state.driveId)}`;
    const res = await api("GET", `/file-storage/files?${where}&limit=200`);
    body.innerHTML = "";
    for (const item of res.data) body.append(fileRow(item));
  } catch (err) {
    $("files-error").textContent = err.message;
  }
}

function fileRow(item) {
  const tr = document.createElement("tr");
  tr.dataset.id = item.id;
  const name = document.createElement("td");
  if (item.type === "folder") {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = `📁 ${item.name}`;
    b.onclick = () => { state.trail.push({ id: item.id, name: item.name }); openFolder(item.id); };
    name.append(b);
  } else {
    name.textContent = item.name;
  }
  const size = Object.assign(document.createElement("td"), { className: "num", textContent: item.type === "file" ? formatBytes(item.size) : "" });
  const date = Object.assign(document.createElement("td"), { textContent: new Date(item.updated_at).toLocaleString() });
  const actions = document.createElement("td");
  if (item.type === "file") {
    const dl = Object.assign(document.createElement("button"), { type: "button", textContent: "Download", className: "download" });
    dl.onclick = () => download(item).catch((err) => ($("files-error").textContent = err.message));
    const del = Object.assign(document.createElement("button"), { type: "button", textContent: "Delete", className: "delete" });
    del.onclick = async () => {
      try { await api("DELETE", `/file-storage/files/${item.id}`); refreshFiles(); }
      catch (err) { $("files-error").textContent = err.message; }
    };
    actions.append(dl, " ", del, " ");
  }
  actions.append(...rowActions(item));
  tr.append(name, size, date, actions);
  return tr;
}

async function download(item) {
  const res = await fetch(url(`/file-storage/files/${item.id}/download`), { headers: headers() });
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
  const blob = await res.blob();
  const a = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: item.name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}

// ---------- wiring ----------

function startUploads(files) {
  for (const file of files) {
    const upload = new Upload(file);
    uploads.push(upload);
    upload.start();
  }
  showResumable();
}

async function signIn(event) {
  event.preventDefault();
  const c = {
    apiKey: $("api-key").value.trim(),
    appId: $("app-id").value.trim(),
    consumerId: $("consumer-id").value.trim(),
    server: $("server").value.trim(),
  };
  sessionStorage.setItem(CREDS_KEY, JSON.stringify(c));
  try {
    await api("GET", "/file-storage/drives");
  } catch (err) {
    sessionStorage.removeItem(CREDS_KEY);
    $("signin-error").textContent = `Sign-in failed: ${err.message}`;
    return;
  }
  $("signin-error").textContent = "";
  showWorkspace();
}

function showWorkspace() {
  const c = creds();
  $("signin").hidden = true;
  $("workspace").hidden = false;
  $("whoami").hidden = $("signout").hidden = false;
  $("whoami").textContent = `${c.appId} / ${c.consumerId}`;
  openFolder("root");
  showResumable();
  mountCatalog({ api, state, openFolder, refreshFiles, showError: (err) => ($("files-error").textContent = err.message) });
}

function wire() {
  $("signin-form").addEventListener("submit", signIn);
  $("signout").onclick = () => { sessionStorage.removeItem(CREDS_KEY); location.reload(); };
  $("file-input").addEventListener("change", (e) => { startUploads([...e.target.files]); e.target.value = ""; });
  const zone = $("dropzone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); startUploads([...e.dataTransfer.files]); });
  $("refresh").onclick = refreshFiles;
  $("folder-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("POST", "/file-storage/folders", { name: $("folder-name").value.trim(), parent_folder_id: state.folderId, drive_id: state.driveId });
      $("folder-name").value = "";
      refreshFiles();
    } catch (err) {
      $("files-error").textContent = err.message;
    }
  });
  if (creds()) showWorkspace();
}

wire();
