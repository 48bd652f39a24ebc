"""The web UI: server-rendered pages that call the public API on the signed-in user's behalf.

`page` holds the machinery (who may open a page, the session, problems as pages), `rendering` the
templates and their filters, `form_errors` what a refused form shows; then one module of pages per
area: `account`, `sales` (the list), `sale` (one sale), `dashboard`, `ops` (the replication panel), `staff`."""
