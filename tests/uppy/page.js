// Uppy's Dashboard and Tus plugin (pinned in package-lock.json), unmodified, on a test page.
// tests/e2e/test_uppy.py bundles this file with esbuild and serves it with the Uppy CSS; the
// page calls window.startUppy({endpoint, headers}) and the test drives the Dashboard's own
// buttons. Each upload event is recorded on window.uppyEvents for the test to read.
import Uppy from '@uppy/core'
import Dashboard from '@uppy/dashboard'
import Tus from '@uppy/tus'

window.uppyEvents = []

window.startUppy = ({ endpoint, headers, chunkSize }) => {
  const uppy = new Uppy({ autoProceed: false })
  uppy.use(Dashboard, { target: '#uppy', inline: true, proudlyDisplayPoweredByUppy: false })
  uppy.use(Tus, { endpoint, headers, chunkSize, retryDelays: [0, 500] })
  const record = (kind, extra) => window.uppyEvents.push({ kind, ...extra })
  uppy.on('upload-success', (file, response) => record('success', { url: response.uploadURL }))
  uppy.on('upload-error', (file, error) => record('error', { message: String(error) }))
  uppy.on('upload-progress', (file, progress) =>
    record('progress', { sent: progress.bytesUploaded, total: progress.bytesTotal }))
  window.uppy = uppy
}
