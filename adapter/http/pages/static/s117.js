// Starts the NHS.UK frontend components (skip link, header menu, tables). A file of its
// own, not an inline script, so the Content-Security-Policy can stay script-src 'self'.
import { initAll } from './nhsuk-frontend.min.js'

initAll()
