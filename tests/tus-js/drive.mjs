// tus-js-client (pinned in package-lock.json), unmodified, against a real partway server.
// tests/e2e/test_tus_js.py runs one scenario per process and reads the JSON on the last line.
import { readFileSync } from 'node:fs'
import { Upload, FileUrlStorage } from 'tus-js-client'

const { PARTWAY_URL, PARTWAY_KEY, PARTWAY_APP_ID, PARTWAY_CONSUMER_ID } = process.env
const [scenario, payloadPath, name, storePath] = process.argv.slice(2)
const payload = readFileSync(payloadPath)
const headers = {
  Authorization: `Bearer ${PARTWAY_KEY}`,
  'x-apideck-app-id': PARTWAY_APP_ID,
  'x-apideck-consumer-id': PARTWAY_CONSUMER_ID,
}
const log = []

function options(extra) {
  return {
    endpoint: `${PARTWAY_URL}/uploads`,
    headers,
    metadata: { filename: name, filetype: 'application/octet-stream' },
    retryDelays: [0, 200],
    onAfterResponse: (req, res) => {
      log.push({
        method: req.getMethod(),
        status: res.getStatus(),
        offset: res.getHeader('Upload-Offset'),
        concat: req.getHeader('Upload-Concat'),
        complete: res.getHeader('Upload-Complete'),
      })
    },
    ...extra,
  }
}

// Resolves when the upload succeeds, or when `stopAfter(bytes)` says to abort it.
function run(upload, stopAfter, terminate = false) {
  return new Promise((resolve, reject) => {
    upload.options.onError = reject
    upload.options.onSuccess = () => resolve('done')
    upload.options.onChunkComplete = (_chunk, accepted) => {
      if (stopAfter && stopAfter(accepted)) {
        upload.abort(terminate).then(() => resolve('aborted'), reject)
      }
    }
    upload.start()
  })
}

async function main() {
  const result = { scenario }
  if (scenario === 'upload') {
    const upload = new Upload(payload, options({}))
    result.outcome = await run(upload)
    result.url = upload.url
  } else if (scenario === 'resume') {
    const urlStorage = new FileUrlStorage(storePath)
    const chunked = { chunkSize: 256 * 1024, urlStorage, removeFingerprintOnSuccess: true }
    const first = new Upload(payload, options(chunked))
    result.first = await run(first, (accepted) => accepted >= payload.length / 2)
    const second = new Upload(payload, options(chunked))
    const previous = await second.findPreviousUploads()
    result.found = previous.length
    second.resumeFromPreviousUpload(previous[0])
    log.length = 0
    result.outcome = await run(second)
    result.url = second.url
    result.sameUrl = first.url === second.url
  } else if (scenario === 'parallel') {
    const upload = new Upload(payload, options({ parallelUploads: 4 }))
    result.outcome = await run(upload)
  } else if (scenario === 'ietf-draft-05') {
    const upload = new Upload(payload, options({ protocol: 'ietf-draft-05', chunkSize: 512 * 1024 }))
    result.outcome = await run(upload)
    result.url = upload.url
  } else if (scenario === 'terminate') {
    const upload = new Upload(payload, options({ chunkSize: 64 * 1024 }))
    result.outcome = await run(upload, (accepted) => accepted >= 64 * 1024, true)
    result.url = upload.url
  } else {
    throw new Error(`unknown scenario ${scenario}`)
  }
  result.requests = log
  console.log(JSON.stringify(result))
}

main().catch((err) => {
  console.error(String(err && err.stack ? err.stack : err))
  process.exit(1)
})
