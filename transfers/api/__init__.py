"""The transfers API: endpoints (+ test, credentials), profiles (+ run, previews, notifications,
skipped runs), previews (+ cancel), jobs (+ cancel, retry, approve, samples, failures,
manifest), notifications (+ deliveries).

Routes only validate, narrow with the access querysets (`request.auth`) and call
`transfers.services`; they never change rows themselves. Secrets are accepted (write-only
fields) and never returned — except a new webhook's signing secret, once, in the response that
created it.

One module per section, mirroring `transfers.services` and `transfers.views`: `endpoints`,
`profiles` (with a profile's notifications and skipped runs), `previews`, `jobs`,
`notifications`; `common` holds the error sets and bounds they share.
"""
