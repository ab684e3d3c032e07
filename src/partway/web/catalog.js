// The page's drive switcher, search, folder copy and shared links (issue #18). app.js owns the
// API helper and the folder view; it hands them here through `mount` and asks `rowActions` for
// the extra buttons of each listed file or folder.
const $ = (id) => document.getElementById(id);
let ctx = null; // { api, state, openFolder, refreshFiles, showError }

function button(text, className, onclick) {
  return Object.assign(document.createElement("button"), { type: "button", textContent: text, className, onclick });
}

// ---------- drives ----------

async function loadDrives() {
  const select = $("drive-select");
  const res = await ctx.api("GET", "/file-storage/drives?limit=200");
  select.innerHTML = "";
  for (const d of res.data) select.append(new Option(d.name, d.id, false, d.id === ctx.state.driveId));
}

function switchDrive(driveId) {
  ctx.state.driveId = driveId;
  ctx.state.trail = [{ id: "root", name: "root" }];
  ctx.openFolder("root");
}

async function createDrive(event) {
  event.preventDefault();
  try {
    const res = await ctx.api("POST", "/file-storage/drives", { name: $("drive-name").value.trim() });
    $("drive-name").value = "";
    ctx.state.driveId = res.data.id;
    await loadDrives();
    switchDrive(res.data.id);
  } catch (err) { ctx.showError(err); }
}

// ---------- search ----------

async function search(event) {
  event.preventDefault();
  const list = $("search-results");
  list.innerHTML = "";
  try {
    const res = await ctx.api("POST", "/file-storage/files/search",
      { query: $("search-query").value.trim(), drive_id: ctx.state.driveId });
    if (!res.data.length) list.append(Object.assign(document.createElement("li"), { className: "hint", textContent: "Nothing found." }));
    for (const item of res.data) {
      const li = document.createElement("li");
      li.dataset.id = item.id;
      const where = (item.parent_folders || []).filter((f) => f.id !== "root").map((f) => f.name).join(" / ") || "root";
      li.append(`${item.type === "folder" ? "📁 " : ""}${item.name} `,
        Object.assign(document.createElement("span"), { className: "hint", textContent: `in ${where}` }));
      list.append(li);
    }
  } catch (err) { ctx.showError(err); }
}

// ---------- folder copy ----------

async function copyFolder(item) {
  const name = prompt(`Copy "${item.name}" into this folder as:`, `${item.name} copy`);
  if (!name) return;
  try {
    await ctx.api("POST", `/file-storage/folders/${item.id}/copy`, { parent_folder_id: ctx.state.folderId, name });
    ctx.refreshFiles();
  } catch (err) { ctx.showError(err); }
}

// ---------- shared links ----------

async function share(item) {
  try {
    const made = await ctx.api("POST", "/file-storage/shared-links", { target_id: item.id, scope: "public" });
    const link = await ctx.api("GET", `/file-storage/shared-links/${made.data.id}`);
    showLink(made.data.id, item.name, link.data.url);
  } catch (err) { ctx.showError(err); }
}

function showLink(id, name, url) {
  $("shares").hidden = false;
  const li = document.createElement("li");
  li.dataset.id = id;
  const a = Object.assign(document.createElement("a"), { href: url, textContent: url, target: "_blank", className: "link-url" });
  const copy = button("Copy link", "copy-link", async () => {
    await navigator.clipboard.writeText(url).catch(() => {});
    copy.textContent = "Copied";
  });
  const revoke = button("Revoke", "revoke", async () => {
    try {
      await ctx.api("DELETE", `/file-storage/shared-links/${id}`);
      li.classList.add("revoked");
      a.removeAttribute("href");
      revoke.disabled = copy.disabled = true;
      revoke.textContent = "Revoked";
    } catch (err) { ctx.showError(err); }
  });
  li.append(`${name}: `, a, " ", copy, " ", revoke);
  $("shares-list").append(li);
}

// ---------- hooks for app.js ----------

export function rowActions(item) {
  const actions = [button("Share", "share", () => share(item))];
  if (item.type === "folder") actions.push(button("Copy here…", "copy-folder", () => copyFolder(item)));
  return actions;
}

export async function mount(context) {
  ctx = context;
  ctx.state.driveId ??= "default";
  $("drive-select").onchange = (e) => switchDrive(e.target.value);
  $("drive-form").onsubmit = createDrive;
  $("search-form").onsubmit = search;
  try { await loadDrives(); } catch (err) { ctx.showError(err); }
}
