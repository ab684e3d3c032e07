// tus-js-client (the copy tests/tus-js pins: npm ci there), unmodified, uploading one file for
// bench/fronts.py. One upload per process; the last line of stdout is one JSON object:
// seconds, client CPU seconds (process.cpuUsage, node's own threads included), bytes, the upload
// URL and how many requests it took, or {"failed": "..."} with exit status 3.
//
//   node bench/tus_js.mjs ENDPOINT FILE NAME MODE   (MODE: tus | parallel | draft)
//   BENCH_TUS_HEADERS='{"Authorization": "..."}'   headers sent with every request
import { createReadStream, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

const here = new URL('.', import.meta.url)
const pinned = createRequire(new URL('../tests/tus-js/package.json', here))
const { Upload } = await import(pathToFileURL(pinned.resolve('tus-js-client')).href)

const [endpoint, file, name, mode] = process.argv.slice(2)
const modes = {
  tus: {},
  parallel: { parallelUploads: 4 },
  draft: { protocol: 'ietf-draft-05' },
}
if (!(mode in modes)) {
  console.error(`unknown mode ${mode}`)
  process.exit(2)
}
const size = statSync(file).size
let requests = 0

function failure(err) {
  const req = err && err.originalRequest
  const res = err && err.originalResponse
  if (req && res) {
    const body = String(res.getBody() || '').replace(/\s+/g, ' ').trim().slice(0, 120)
    return `${req.getMethod()} answered ${res.getStatus()}${body ? `: ${body}` : ''}`
  }
  return String(err && err.message ? err.message : err).slice(0, 200)
}

const cpu0 = process.cpuUsage()
const began = process.hrtime.bigint()
const upload = new Upload(createReadStream(file), {
  endpoint,
  headers: JSON.parse(process.env.BENCH_TUS_HEADERS || '{}'),
  metadata: { filename: name, filetype: 'application/octet-stream' },
  retryDelays: null, // a failure is a result here, not something to hide behind retries
  onAfterResponse: () => {
    requests += 1
  },
  ...modes[mode],
})
try {
  await new Promise((resolve, reject) => {
    upload.options.onError = reject
    upload.options.onSuccess = resolve
    upload.start()
  })
} catch (err) {
  console.log(JSON.stringify({ failed: failure(err) }))
  process.exit(3)
}
const seconds = Number(process.hrtime.bigint() - began) / 1e9
const cpu = process.cpuUsage(cpu0)
const location = new URL(upload.url).pathname.replace(/\/$/, '').split('/').pop()
console.log(
  JSON.stringify({
    seconds,
    client_cpu: (cpu.user + cpu.system) / 1e6,
    bytes: size,
    url: upload.url,
    location,
    requests,
  }),
)
