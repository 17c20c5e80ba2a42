"""A relay collector (``c2cwsgiutils-logs serve --forward URL``): :mod:`.forward` accepts records,
spools them on disk and forwards them; :mod:`.proxy` sends the read API to the upstream."""
