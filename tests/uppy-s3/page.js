// Uppy's Dashboard and S3 plugin (pinned in package-lock.json), unmodified, on a test page.
// tests/e2e/test_uppy_s3.py bundles this file with esbuild and serves it with the Uppy CSS.
// The page never sees an API key: like an app's backend, the test asks partway for a companion
// endpoint (POST /companion/grants, with the tenant's credentials) and hands it to
// window.startUppy({companionEndpoint, folderId}); the plugin's Companion client then calls
// partway's /s3/multipart routes under it and PUTs each part straight into the object store.
// With `multipart: false` (and for an empty file in any case) it sends each file whole instead:
// GET /s3/params, then a form POST to the partway-signed URL that answers.
// Each upload event is recorded on window.uppyEvents for the test to read.
import AwsS3 from '@uppy/aws-s3'
import Uppy from '@uppy/core'
import Dashboard from '@uppy/dashboard'

window.uppyEvents = []

window.startUppy = ({ companionEndpoint, folderId, multipart = true }) => {
  // Every file's meta reaches partway as the create's metadata: the folder it goes to.
  const uppy = new Uppy({ autoProceed: false, meta: { parent_folder_id: folderId } })
  uppy.use(Dashboard, { target: '#uppy', inline: true, proudlyDisplayPoweredByUppy: false })
  // shouldUseMultipart: false sends every file whole (GET /s3/params, then a form POST).
  uppy.use(AwsS3, { companionEndpoint, shouldUseMultipart: multipart })
  const record = (kind, extra) => window.uppyEvents.push({ kind, ...extra })
  uppy.on('upload-success', (file, response) =>
    record('success', { url: response.uploadURL, body: response.body }))
  uppy.on('upload-error', (file, error) => record('error', { message: String(error) }))
  uppy.on('s3-multipart:part-uploaded', (file, part) =>
    record('part', { number: part.PartNumber, etag: part.ETag }))
  window.uppy = uppy
}
