// Drives all 32 file-storage methods of the official TypeScript SDK (@apideck/unify, unmodified)
// against a real partway server, and prints one JSON object: {"results": [{method, ok, detail}]}.
//
//   PARTWAY_URL=http://127.0.0.1:8080 PARTWAY_KEY=… PARTWAY_APP_ID=… PARTWAY_CONSUMER_ID=… \
//     node drive.mjs
//
// The SDK sends create/get/upload/finish of upload sessions to upload.apideck.com whatever the
// client's serverURL; each of those calls passes { serverURL } as a per-call option instead.
import { Apideck } from "@apideck/unify";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const serverURL = env("PARTWAY_URL");
const sdk = new Apideck({
  apiKey: env("PARTWAY_KEY"),
  appId: env("PARTWAY_APP_ID"),
  consumerId: env("PARTWAY_CONSUMER_ID"),
  serverURL,
  retryConfig: { strategy: "none" },
});
const fs = sdk.fileStorage;
const upload = { serverURL };
const results = [];

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

async function step(method, work) {
  try {
    const detail = await work();
    results.push({ method, ok: true, detail: detail ?? null });
    return detail;
  } catch (error) {
    results.push({ method, ok: false, detail: String(error?.stack ?? error) });
    return undefined;
  }
}

async function text(stream) {
  return new TextDecoder().decode(await new Response(stream).arrayBuffer());
}

const stamp = Date.now().toString(36);
const payload = new TextEncoder().encode(`hello from the typescript sdk ${stamp}`);

// Drives and drive groups.
const driveId = await step("drives.create", async () => {
  const res = await fs.drives.create({ drive: { name: `ts drive ${stamp}` } });
  return res.createDriveResponse.data.id;
});
await step("drives.list", async () => {
  const page = await fs.drives.list({});
  const ids = page.getDrivesResponse.data.map((d) => d.id);
  check(ids.includes("default") && ids.includes(driveId), "both drives listed");
  return ids.length;
});
await step("drives.get", async () => {
  const res = await fs.drives.get({ id: driveId });
  check(res.getDriveResponse.data.name === `ts drive ${stamp}`, "drive name");
});
await step("drives.update", async () => {
  await fs.drives.update({ id: driveId, drive: { name: "renamed" } });
  const res = await fs.drives.get({ id: driveId });
  check(res.getDriveResponse.data.name === "renamed", "renamed");
});
await step("drives.delete", async () => {
  await fs.drives.delete({ id: driveId });
});
const groupId = await step("driveGroups.create", async () => {
  const res = await fs.driveGroups.create({ driveGroup: { name: "team", displayName: "Team" } });
  return res.createDriveGroupResponse.data.id;
});
await step("driveGroups.list", async () => {
  const page = await fs.driveGroups.list({});
  check(page.getDriveGroupsResponse.data.some((g) => g.id === groupId), "group listed");
});
await step("driveGroups.get", async () => {
  const res = await fs.driveGroups.get({ id: groupId });
  check(res.getDriveGroupResponse.data.displayName === "Team", "display name");
});
await step("driveGroups.update", async () => {
  await fs.driveGroups.update({ id: groupId, driveGroup: { name: "team2" } });
});
await step("driveGroups.delete", async () => {
  await fs.driveGroups.delete({ id: groupId });
});

// Folders.
const folderId = await step("folders.create", async () => {
  const res = await fs.folders.create({
    createFolderRequest: { name: `ts folder ${stamp}`, parentFolderId: "root" },
  });
  return res.createFolderResponse.data.id;
});
await step("folders.get", async () => {
  const res = await fs.folders.get({ id: folderId });
  check(res.getFolderResponse.data.name === `ts folder ${stamp}`, "folder name");
});
await step("folders.update", async () => {
  await fs.folders.update({ id: folderId, updateFolderRequest: { description: "described" } });
  const res = await fs.folders.get({ id: folderId });
  check(res.getFolderResponse.data.description === "described", "description");
});

// Upload sessions: one aborted, one finished into the folder.
await step("uploadSessions.delete", async () => {
  const made = await fs.uploadSessions.create(
    { createUploadSessionRequest: { name: "aborted.bin", parentFolderId: "root", size: 3 } },
    upload,
  );
  await fs.uploadSessions.delete({ id: made.createUploadSessionResponse.data.id });
});
const sessionId = await step("uploadSessions.create", async () => {
  const res = await fs.uploadSessions.create(
    {
      createUploadSessionRequest: {
        name: `ts ${stamp}.txt`,
        parentFolderId: folderId,
        size: payload.length,
      },
    },
    upload,
  );
  return res.createUploadSessionResponse.data.id;
});
await step("uploadSessions.get", async () => {
  const res = await fs.uploadSessions.get({ id: sessionId }, upload);
  check(res.getUploadSessionResponse.data.partSize >= payload.length, "one part");
});
await step("uploadSessions.upload", async () => {
  await fs.uploadSessions.upload({ id: sessionId, partNumber: 0, requestBody: payload }, upload);
});
const fileId = await step("uploadSessions.finish", async () => {
  const res = await fs.uploadSessions.finish({ id: sessionId }, upload);
  check(res.getFileResponse.data.size === payload.length, "file size");
  return res.getFileResponse.data.id;
});

// Files.
await step("files.list", async () => {
  const page = await fs.files.list({ filter: { folderId } });
  check(page.getFilesResponse.data.map((f) => f.id).includes(fileId), "file listed");
});
await step("files.get", async () => {
  const res = await fs.files.get({ id: fileId });
  check(res.getFileResponse.data.name === `ts ${stamp}.txt`, "file name");
});
await step("files.update", async () => {
  await fs.files.update({ id: fileId, updateFileRequest: { description: "updated" } });
  const res = await fs.files.get({ id: fileId });
  check(res.getFileResponse.data.description === "updated", "description");
});
await step("files.search", async () => {
  const res = await fs.files.search({ filesSearch: { query: `${stamp}.txt` } });
  check(res.getFilesResponse.data.map((f) => f.id).join() === fileId, "found by name");
});
await step("files.download", async () => {
  const res = await fs.files.download({ id: fileId });
  check((await text(res.getFileDownloadResponse)) === new TextDecoder().decode(payload), "bytes");
});
await step("files.export", async () => {
  const res = await fs.files.export({ id: fileId, format: "text/plain" });
  check((await text(res.getFileDownloadResponse)) === new TextDecoder().decode(payload), "bytes");
});

// Shared links: the link's url works without credentials until the link is deleted.
const link = await step("sharedLinks.create", async () => {
  const res = await fs.sharedLinks.create({ sharedLink: { targetId: fileId, scope: "public" } });
  return { id: res.createSharedLinkResponse.data.id };
});
await step("sharedLinks.get", async () => {
  const res = await fs.sharedLinks.get({ id: link.id });
  link.url = res.getSharedLinkResponse.data.url;
  const got = await fetch(link.url);
  check(got.status === 200 && (await got.text()) === new TextDecoder().decode(payload), "url");
});
await step("sharedLinks.list", async () => {
  const page = await fs.sharedLinks.list({});
  check(page.getSharedLinksResponse.data.some((l) => l.target?.id === fileId), "listed");
});
await step("sharedLinks.update", async () => {
  await fs.sharedLinks.update({ id: link.id, sharedLink: { targetId: fileId, password: "pw" } });
  const res = await fs.sharedLinks.get({ id: link.id });
  check(res.getSharedLinkResponse.data.passwordProtected === true, "password set");
});
await step("sharedLinks.delete", async () => {
  await fs.sharedLinks.delete({ id: link.id });
  check((await fetch(link.url)).status === 404, "revoked at once");
});

// Folder copy, then clean up.
await step("folders.copy", async () => {
  const res = await fs.folders.copy({
    id: folderId,
    copyFolderRequest: { parentFolderId: "root", name: `ts copy ${stamp}` },
  });
  const copyId = res.updateFolderResponse.data.id;
  const page = await fs.files.list({ filter: { folderId: copyId } });
  const copied = page.getFilesResponse.data;
  check(copied.length === 1 && copied[0].id !== fileId, "copied file");
  const bytes = await text((await fs.files.download({ id: copied[0].id })).getFileDownloadResponse);
  check(bytes === new TextDecoder().decode(payload), "copied bytes");
  return copyId;
});
await step("files.delete", async () => {
  await fs.files.delete({ id: fileId });
});
await step("folders.delete", async () => {
  await fs.folders.delete({ id: folderId });
});

console.log(JSON.stringify({ results }));
